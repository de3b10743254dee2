//! The disk layout drawn as inline SVG, from whatever partitions the plan's `built.layout` lists (so a layout
//! with verity or A/B slots draws itself), with the table of offsets, sizes and ids beneath it.

use std::fmt::Write as _;

use super::esc;
use crate::plan::disk::{ContentKind, LaidOut};
use crate::plan::summary::human_bytes;
use crate::plan::{Layout, Plan};

const WIDTH: f64 = 1000.0;
const MIN_BOX: f64 = 90.0;
const HEIGHT: f64 = 84.0;

fn colour(c: ContentKind) -> &'static str {
    match c {
        ContentKind::Fat32 => "#ddf4ff",
        ContentKind::Ext4 => "#dafbe1",
        ContentKind::Raw => "#fff1e5",
        ContentKind::Empty => "#eaeef2",
    }
}

fn kind_name(p: &LaidOut) -> String {
    serde_json::to_value(p.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn content_name(c: ContentKind) -> &'static str {
    match c {
        ContentKind::Fat32 => "FAT32",
        ContentKind::Ext4 => "ext4",
        ContentKind::Raw => "raw",
        ContentKind::Empty => "empty",
    }
}

/// Box widths: the square root of each size, so a 64 MiB partition stays visible beside a 2 GiB one; never
/// narrower than a label.
fn widths(parts: &[LaidOut]) -> Vec<f64> {
    let roots: Vec<f64> = parts.iter().map(|p| (p.size as f64).sqrt()).collect();
    let total: f64 = roots.iter().sum::<f64>().max(1.0);
    let spare = WIDTH - MIN_BOX * parts.len() as f64;
    roots
        .iter()
        .map(|r| MIN_BOX + spare.max(0.0) * r / total)
        .collect()
}

/// The SVG picture of the disk.
pub fn draw(l: &Layout) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"disk-layout\" viewBox=\"0 0 {WIDTH} {}\" width=\"100%\" \
         role=\"img\" aria-label=\"disk layout\">",
        HEIGHT + 22.0
    );
    let mut x = 0.0;
    for (p, w) in l.partitions.iter().zip(widths(&l.partitions)) {
        let _ = writeln!(
            o,
            "<g class=\"partition\" data-name=\"{name}\"><rect x=\"{x:.1}\" y=\"0\" width=\"{w:.1}\" height=\"{HEIGHT}\" \
             fill=\"{fill}\" stroke=\"#1f2328\" stroke-width=\"1.5\"/>\
             <text x=\"{tx:.1}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{num}. {name}</text>\
             <text x=\"{tx:.1}\" y=\"42\" font-size=\"12\">{size}</text>\
             <text x=\"{tx:.1}\" y=\"60\" font-size=\"11\">{content}</text>\
             <text x=\"{tx:.1}\" y=\"76\" font-size=\"10\" fill=\"#57606a\">{kind}</text></g>",
            name = esc(&p.name),
            fill = colour(p.content),
            tx = x + 6.0,
            num = p.number,
            size = esc(&human_bytes(p.size)),
            content = content_name(p.content),
            kind = esc(&kind_name(p)),
        );
        x += w;
    }
    let _ = writeln!(
        o,
        "<text x=\"0\" y=\"{}\" font-size=\"11\" fill=\"#57606a\">disk {} · GPT · box widths grow with the square \
         root of the size</text>\n</svg>",
        HEIGHT + 17.0,
        esc(&human_bytes(l.disk_size))
    );
    o
}

/// The layout section: the drawing and the table.
pub fn layout_section(o: &mut String, plan: &Plan) {
    let _ = writeln!(o, "<section id=\"layout\"><h2>Disk layout</h2>");
    let Some(b) = &plan.built else {
        let _ = writeln!(
            o,
            "<p>Not built: the plan has no <code>built</code> section.</p></section>"
        );
        return;
    };
    let l = &b.layout;
    o.push_str(&draw(l));
    let _ = writeln!(
        o,
        "<table id=\"partitions\"><thead><tr><th>#</th><th>Name</th><th>Type</th><th>Content</th><th>Offset</th>\
         <th>Size</th><th>Filesystem id</th><th>Partition GUID</th><th>Attributes</th></tr></thead><tbody>"
    );
    for p in &l.partitions {
        let ro = if p.attributes & crate::plan::disk::attr::READ_ONLY != 0 {
            " (read-only)"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td>\
             <td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{:#x}{ro}</td></tr>",
            p.number,
            esc(&p.name),
            esc(&kind_name(p)),
            content_name(p.content),
            p.offset,
            esc(&human_bytes(p.size)),
            esc(p.fs_id.as_deref().unwrap_or("")),
            p.guid,
            p.attributes
        );
    }
    let _ = writeln!(
        o,
        "</tbody></table><p class=\"sign\">Disk GUID <code>{}</code>, {} bytes, sectors of {} bytes.</p></section>",
        l.disk_guid, l.disk_size, l.sector_size
    );
}
