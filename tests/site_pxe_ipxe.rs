//! The site PXE dispatcher under real firmware: QEMU (TCG, OVMF) boots its NIC's iPXE option ROM
//! (`efi-virtio.rom`, package ipxe-qemu), which takes `boot.ipxe` from slirp's TFTP. iPXE itself is the oracle
//! for `${netX/mac:hexhyp}`: a machine with a host's MAC fetches that host's kernel from the test's HTTP server
//! (and only that host's), a machine with an unknown MAC prints the refusal and fetches no kernel at all.
//!
//! The tree holds the dispatcher and the MAC scripts exactly as `forja media pxe` writes them
//! (`media::site_pxe`), without kernels: the first request for `hosts/NAME/vmlinuz` is the proof that the right
//! script ran, in a 20-second boot. The full install of both hosts from one tree, with the boot proof, is in
//! `tests/media_install.rs`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use forja::media::site_pxe::{dispatcher, host_script, mac_script_name};

/// Serves `root` at `/site/` over HTTP/1.0 and records the path of every GET (404 for anything not there).
fn serve(root: std::path::PathBuf) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut req = Vec::new();
            let mut b = [0u8; 1];
            while !req.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                req.push(b[0]);
            }
            let req = String::from_utf8_lossy(&req);
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_owned();
            log.lock().unwrap().push(path.clone());
            let file = path
                .strip_prefix("/site/")
                .filter(|p| !p.contains(".."))
                .map(|p| root.join(p));
            match file.and_then(|f| std::fs::read(f).ok()) {
                Some(body) => {
                    let _ = write!(
                        s,
                        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(&body);
                }
                None => {
                    let _ = write!(s, "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                }
            }
        }
    });
    (port, seen)
}

/// Boots a diskless VM with one NIC of `mac` until `done(console, requests)` or a timeout; returns the console.
fn boot(
    work: &Path,
    tree: &Path,
    mac: &str,
    seen: &Arc<Mutex<Vec<String>>>,
    done: impl Fn(&str, &[String]) -> bool,
) -> String {
    let vars = work.join(format!("vars-{mac}.fd"));
    std::fs::copy("/usr/share/OVMF/OVMF_VARS_4M.fd", &vars).unwrap();
    let console = work.join(format!("console-{mac}.log"));
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-machine", "q35", "-accel", "tcg", "-m", "512", "-display", "none",
        ])
        .args(["-no-reboot", "-nodefaults"])
        .arg("-drive")
        .arg("if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd")
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,file={}", vars.display()))
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-netdev")
        .arg(format!(
            "user,id=n0,tftp={},bootfile=boot.ipxe",
            tree.display()
        ))
        .arg("-device")
        .arg(format!("virtio-net-pci,netdev=n0,mac={mac},bootindex=0"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64 is installed");
    let start = Instant::now();
    let text = loop {
        std::thread::sleep(Duration::from_millis(500));
        let text =
            String::from_utf8_lossy(&std::fs::read(&console).unwrap_or_default()).into_owned();
        let reqs = seen.lock().unwrap().clone();
        if done(&text, &reqs) || start.elapsed() > Duration::from_secs(240) {
            break text;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("{mac}: {:.1?}", start.elapsed());
    text
}

#[test]
fn ipxe_picks_each_host_by_mac_and_refuses_an_unknown_machine() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("mac")).unwrap();
    let (port, seen) = serve(tree.clone());
    let base = format!("http://10.0.2.2:{port}/site");
    std::fs::write(tree.join("boot.ipxe"), dispatcher("lab-site", &base)).unwrap();
    for (host, macs) in [
        ("kvm-lab-1", ["52:54:00:0a:01:01", "52:54:00:0a:01:02"]),
        ("kvm-lab-2", ["52:54:00:0a:02:01", "52:54:00:0a:02:02"]),
    ] {
        for mac in macs {
            std::fs::write(
                tree.join(mac_script_name(mac)),
                host_script("lab-site", host, &base),
            )
            .unwrap();
        }
    }
    for (mac, host) in [
        ("52:54:00:0a:02:02", "kvm-lab-2"),
        ("52:54:00:0a:01:01", "kvm-lab-1"),
    ] {
        seen.lock().unwrap().clear();
        let want = format!("/site/hosts/{host}/vmlinuz");
        let console = boot(work.path(), &tree, mac, &seen, |_, r| r.contains(&want));
        let reqs = seen.lock().unwrap().clone();
        assert!(reqs.contains(&want), "{mac}: requests {reqs:?}\n{console}");
        let hyp = mac.replace(':', "-");
        assert_eq!(
            reqs[0],
            format!("/site/mac/{hyp}.ipxe"),
            "{mac}: the dispatcher chains the booting NIC's script: {reqs:?}"
        );
        assert!(
            reqs[1..]
                .iter()
                .all(|p| p.starts_with(&format!("/site/hosts/{host}/"))),
            "{mac} fetched another host's files: {reqs:?}"
        );
    }

    seen.lock().unwrap().clear();
    let console = boot(work.path(), &tree, "52:54:00:0a:09:01", &seen, |c, _| {
        c.contains("REFUSED")
    });
    assert!(
        console.contains("forja: REFUSED: MAC 52:54:00:0a:09:01 is not a host of site lab-site"),
        "{console}"
    );
    let reqs = seen.lock().unwrap().clone();
    assert_eq!(
        reqs,
        ["/site/mac/52-54-00-0a-09-01.ipxe"],
        "an unknown machine asks for its script, gets none, and fetches nothing else"
    );
}
