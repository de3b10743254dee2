//! `report.html` rendered by headless Chromium (an independent browser, not forja): the DOM after its script
//! ran (checklist, every rule, the filter, the MANUAL steps, the disk drawn from whatever partitions the plan
//! lists, fields the renderer does not know), a screenshot, a clean PDF, and not one network request.

#[path = "support/chromium.rs"]
mod chromium;

use std::path::{Path, PathBuf};

use forja::hashio::Sha256;
use forja::plan::disk::{ContentKind, LaidOut, PartitionType};
use forja::plan::{Built, Layout, Plan};
use serde_json::Value;

/// A partition of a made-up built layout.
fn part(number: u32, name: &str, kind: PartitionType, size: u64, content: ContentKind) -> LaidOut {
    LaidOut {
        number,
        kind,
        type_guid: kind.guid(),
        guid: forja::ids::guid("test", name),
        name: name.into(),
        first_lba: 2048 * u64::from(number),
        last_lba: 2048 * u64::from(number) + size / 512 - 1,
        attributes: 0,
        offset: (2048 * u64::from(number)) * 512,
        size,
        content,
        fs_id: None,
        inodes: None,
    }
}

/// The lab profile's plan with a built layout of six partitions (the renderer must draw what is listed, not
/// a fixed four), and its compliance report with a field the renderer does not know and a hostile reason.
fn inputs() -> (Plan, Value) {
    let l = forja::profile::load(
        Path::new("profiles/lab.toml"),
        forja::profile::SecretsNeed::IfPresent,
    )
    .unwrap();
    let mut plan = forja::pipeline::resolve(&l, &forja::pipeline::Environment::fixture()).unwrap();
    let parts = vec![
        part(1, "esp", PartitionType::Esp, 256 << 20, ContentKind::Fat32),
        part(
            2,
            "root-a",
            PartitionType::RootX86_64,
            1200 << 20,
            ContentKind::Ext4,
        ),
        part(
            3,
            "root-a-verity",
            PartitionType::LinuxData,
            10 << 20,
            ContentKind::Raw,
        ),
        part(
            4,
            "state",
            PartitionType::LinuxData,
            128 << 20,
            ContentKind::Ext4,
        ),
        part(
            5,
            "payload",
            PartitionType::LinuxData,
            72 << 20,
            ContentKind::Ext4,
        ),
        part(
            6,
            "vmstore",
            PartitionType::LinuxLuks,
            64 << 20,
            ContentKind::Empty,
        ),
    ];
    plan.built = Some(Built {
        kernel: "6.1.0-50-amd64".into(),
        base_sha256: Sha256::of(b"base"),
        root_hash: Sha256::of(b"root"),
        kernel_cmdline: "ro".into(),
        secure_boot_db: None,
        layout: Layout {
            disk_guid: forja::ids::guid("test", "disk"),
            disk_size: 2 << 30,
            sector_size: 512,
            partitions: parts,
        },
    });
    let mut report: Value = serde_json::from_str(&forja::policy::evaluate(&l).to_json()).unwrap();
    report["rules"][0]["proven_by"] =
        serde_json::json!({"test": "tests/boot_report.rs::firewall_drops"});
    report["rules"][1]["reason"] =
        "<img id=\"pwn\" src=x onerror=\"document.title='pwned'\">".into();
    (plan, report)
}

fn render_to(dir: &Path) -> (PathBuf, Plan, Value) {
    let (plan, report) = inputs();
    let who = forja::report::Identity {
        signer: "SHA256:testsignerfingerprint".into(),
        hashes: vec![("disk.raw".into(), Sha256::of(b"disk"))],
    };
    let html = forja::report::render(&report, &plan, &who);
    let file = dir.join("report.html");
    std::fs::write(&file, &html).unwrap();
    (file, plan, report)
}

/// The text of an HTML fragment (tags dropped; the first piece is the rest of the row's start tag).
fn text_of(html: &str) -> String {
    let mut out = String::new();
    for piece in html.split('<') {
        out.push_str(piece.split_once('>').map(|(_, t)| t).unwrap_or(""));
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn the_report_renders_filters_and_draws_the_layout_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let (file, plan, report) = render_to(dir.path());
    let url = format!("file://{}", file.display());
    let trap = chromium::Trap::new();
    let dom = chromium::dom(&url, &trap);
    let rules = report["rules"].as_array().unwrap();
    let status = |s: &str| rules.iter().filter(|r| r["status"] == s).count();
    assert_eq!(
        count(&dom, "<tr id=\"rule-"),
        rules.len(),
        "every rule has a row"
    );
    assert_eq!(
        count(&dom, "data-row=\""),
        11,
        "the guide's §7 checklist has 11 rows"
    );
    assert_eq!(
        count(&dom, "<li data-rule="),
        status("MANUAL"),
        "every MANUAL step is on the checklist"
    );
    let layout = &plan.built.as_ref().unwrap().layout;
    assert_eq!(count(&dom, "class=\"partition\""), layout.partitions.len());
    for p in &layout.partitions {
        assert!(
            dom.contains(&format!("data-name=\"{}\"", p.name)),
            "{} not drawn",
            p.name
        );
    }
    assert!(
        dom.contains(forja::LONG_VERSION),
        "forja's version and commit"
    );
    assert!(dom.contains("2026-01-01T00:00:00Z") && dom.contains("SHA256:testsignerfingerprint"));
    assert!(dom.contains(&Sha256::of(b"disk").hex()));
    // A field this renderer does not know is shown, not dropped.
    assert!(
        dom.contains("proven_by") && dom.contains("tests/boot_report.rs::firewall_drops"),
        "unknown field dropped"
    );
    // Text from the report is text: the hostile reason made no element and ran nothing.
    assert!(
        !dom.contains("<img id=\"pwn\""),
        "a reason was parsed as HTML"
    );
    assert!(!dom.contains("<title>pwned"), "a reason ran a script");
    // With everything shown, the filter hid nothing.
    assert_eq!(count(&dom, " hidden=\"\""), 0);
    assert!(dom.contains(&format!("<span id=\"shown\">{}</span>", rules.len())));

    // The filter, driven by the fragment: only MANUAL rows stay.
    let dom = chromium::dom(&format!("{url}#status=MANUAL"), &trap);
    assert_eq!(count(&dom, " hidden=\"\""), rules.len() - status("MANUAL"));
    assert!(dom.contains(&format!("<span id=\"shown\">{}</span>", status("MANUAL"))));
    // The text filter: a row stays exactly when its text mentions NTP.
    let dom = chromium::dom(
        &format!("{url}#status=PASS,FAIL,MANUAL,WAIVED&q=ntp"),
        &trap,
    );
    let rows: Vec<&str> = dom
        .split("<tr id=\"rule-")
        .skip(1)
        .map(|r| r.split("</tr>").next().unwrap())
        .collect();
    assert_eq!(rows.len(), rules.len());
    let shown = rows.iter().filter(|r| !r.contains(" hidden=\"\"")).count();
    for r in &rows {
        let mentions = text_of(r).to_lowercase().contains("ntp");
        assert_eq!(
            mentions,
            !r.contains(" hidden=\"\""),
            "filter wrong for row {}",
            &r[..20]
        );
    }
    assert!(shown > 0 && shown < rules.len(), "{shown} rows mention NTP");
    assert!(
        dom.contains(&format!("<span id=\"shown\">{shown}</span>")),
        "the count of shown rows"
    );
    assert_eq!(
        trap.page_requests(),
        Vec::<String>::new(),
        "the report made network requests"
    );
}

#[test]
fn the_report_makes_no_request_and_the_trap_would_see_one() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _, _) = render_to(dir.path());
    let html = std::fs::read_to_string(&file).unwrap();
    // Nothing to fetch in the file itself: no external reference of any kind.
    for bad in [
        "src=\"http",
        "href=\"http",
        "@import",
        "url(",
        "<link",
        "<iframe",
        "google",
    ] {
        assert!(!html.contains(bad), "report.html contains {bad}");
    }
    let trap = chromium::Trap::new();
    let _ = chromium::dom(&format!("file://{}", file.display()), &trap);
    assert_eq!(
        trap.page_requests(),
        Vec::<String>::new(),
        "report.html made a request"
    );
    // The control: a page that does fetch something is seen by the same trap, so zero above means zero.
    let control = dir.path().join("control.html");
    std::fs::write(
        &control,
        "<html><body><img src=\"http://example.invalid/x.png\"></body></html>",
    )
    .unwrap();
    let _ = chromium::dom(&format!("file://{}", control.display()), &trap);
    let seen = trap.page_requests();
    assert!(
        seen.iter().any(|l| l.contains("example.invalid")),
        "the trap saw no request from a page that makes one: {seen:?}"
    );
}

#[test]
fn the_report_prints_to_pdf_with_the_manual_steps_on_their_own_page() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _, _) = render_to(dir.path());
    let pdf = dir.path().join("report.pdf");
    let trap = chromium::Trap::new();
    chromium::pdf(&format!("file://{}", file.display()), &pdf, &trap);
    let info = std::process::Command::new("pdfinfo")
        .arg(&pdf)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .map(|n| n.trim().parse().unwrap())
        .unwrap();
    assert!(pages >= 2, "{info}");
    let page_text = |p: usize| {
        let o = std::process::Command::new("pdftotext")
            .args(["-f", &p.to_string(), "-l", &p.to_string(), "-layout"])
            .arg(&pdf)
            .arg("-")
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let all: String = (1..=pages).map(page_text).collect();
    for heading in [
        "Build identity",
        "7. Checklist",
        "Rules",
        "Disk layout",
        "MANUAL steps",
    ] {
        assert!(all.contains(heading), "the PDF lacks {heading}");
    }
    assert!(
        !all.contains("filter: rule"),
        "the filter controls were printed"
    );
    // The signed checklist starts a page of its own.
    let manual = (1..=pages)
        .find(|&p| page_text(p).contains("MANUAL steps"))
        .unwrap();
    assert!(
        page_text(manual).trim_start().starts_with("MANUAL steps"),
        "the MANUAL steps do not start their page:\n{}",
        page_text(manual)
    );
    assert_eq!(trap.page_requests(), Vec::<String>::new());
}

#[test]
fn the_screenshot_shows_a_rendered_page() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _, _) = render_to(dir.path());
    let png = dir.path().join("report.png");
    let trap = chromium::Trap::new();
    chromium::screenshot(
        &format!("file://{}", file.display()),
        &png,
        1280,
        1600,
        &trap,
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buf).unwrap();
    assert_eq!((frame.width, frame.height), (1280, 1600));
    let px = &buf[..frame.buffer_size()];
    let step = frame.color_type.samples();
    let colours: std::collections::BTreeSet<&[u8]> = px.chunks(step).step_by(7).collect();
    assert!(
        colours.len() > 50,
        "a blank or broken render: {} colours",
        colours.len()
    );
    // Status colours of the page are there: PASS green (#1a7f37) text was drawn.
    assert!(
        px.chunks(step)
            .any(|c| c[0] < 0x40 && c[1] > 0x60 && c[2] < 0x60),
        "no PASS green"
    );
}
