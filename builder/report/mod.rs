//! `report.html`: what the auditor holds in their hands. One self-contained file (styles and the filter script
//! inline, a Content-Security-Policy that forbids every request), printable to PDF: build identity, the guide's
//! §7 checklist, the rule table (filterable by status and text), the MANUAL steps as a checklist to sign, the
//! findings, and the disk layout drawn from the plan's `built.layout`.
//!
//! It renders `compliance.json` generically ([`serde_json::Value`]): fields it does not know are shown under
//! the rule, not dropped, so the compliance report can grow without this renderer lagging behind. Deterministic
//! like every artifact: no clock (the date is SOURCE_DATE_EPOCH), no absolute path, the rules in report order.

mod compliance;
mod svg;

use std::fmt::Write as _;

use serde_json::Value;

use crate::hashio::Sha256;
use crate::plan::Plan;

/// The file name in the output folder.
pub const FILE: &str = "report.html";

/// Who and what made the build, beyond the plan.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The signing key's fingerprint (`SHA256:...`, as `ssh-keygen -l` prints it).
    pub signer: String,
    /// SHA-256 of artifacts known when the report is written (the image, its compressed copy, the plan, ...).
    pub hashes: Vec<(String, Sha256)>,
}

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The whole page.
pub fn render(report: &Value, plan: &Plan, who: &Identity) -> String {
    let name = report["name"].as_str().unwrap_or(&plan.profile.name);
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"es\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; \
         script-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>CCN-STIC 1616 · {} · forja</title>\n<style>\n{}</style>\n</head>\n<body>\n",
        esc(name),
        include_str!("report.css")
    );
    let _ = writeln!(
        o,
        "<header><h1>Informe de cumplimiento CCN-STIC 1616: {}</h1>",
        esc(name)
    );
    let _ = writeln!(
        o,
        "<p>Host image built by forja for the secure-use guide CCN-STIC 1616 (Pexip Infinity v25.4). Compliance \
         report of profile <code>{}</code>, dated {} (SOURCE_DATE_EPOCH).</p></header>",
        esc(&plan.profile.file),
        esc(&plan.epoch_utc())
    );
    if report["purpose"] == "lab" {
        let _ = writeln!(
            o,
            "<p class=\"lab\"><b>LAB build</b>: test secrets and stand-in images; never deploy it.</p>"
        );
    }
    identity(&mut o, plan, who);
    compliance::summary(&mut o, report);
    compliance::checklist(&mut o, report);
    compliance::rules(&mut o, report);
    compliance::findings(&mut o, report);
    svg::layout_section(&mut o, plan);
    compliance::manual_steps(&mut o, report, name);
    let _ = write!(
        o,
        "<script>\n{}</script>\n</body>\n</html>\n",
        include_str!("filter.js")
    );
    o
}

/// Build identity: forja's version and commit, the date, the profile, the hashes, the signer.
fn identity(o: &mut String, plan: &Plan, who: &Identity) {
    let _ = writeln!(
        o,
        "<section id=\"identity\"><h2>Build identity</h2>\n<table>"
    );
    let mut row = |k: &str, v: String| {
        let _ = writeln!(o, "<tr><th>{}</th><td>{v}</td></tr>", esc(k));
    };
    row(
        "forja",
        format!("<code>{}</code>", esc(crate::LONG_VERSION)),
    );
    row(
        "Date (SOURCE_DATE_EPOCH)",
        format!(
            "{} (<code>{}</code>)",
            esc(&plan.epoch_utc()),
            plan.source_date_epoch
        ),
    );
    row(
        "Profile",
        format!(
            "<code>{}</code> ({}), SHA-256 <code>{}</code>",
            esc(&plan.profile.file),
            esc(&plan.profile.name),
            plan.profile.sha256
        ),
    );
    if let Some(b) = &plan.built {
        row("Kernel", format!("<code>{}</code>", esc(&b.kernel)));
        row(
            "Debian base tarball",
            format!("SHA-256 <code>{}</code>", b.base_sha256),
        );
    }
    for (name, sha) in &who.hashes {
        row(name, format!("SHA-256 <code>{sha}</code>"));
    }
    row(
        "Signed by",
        format!(
            "<code>{}</code> (ed25519; <code>SHA256SUMS.sig</code>, <code>SHA256SUMS.sshsig</code>)",
            esc(&who.signer)
        ),
    );
    let _ = writeln!(
        o,
        "</table>\n<p class=\"sign\">This report is itself listed in the signed <code>SHA256SUMS</code>: check \
         the whole folder with <code>forja verify DIR --pubkey forja.pub</code> or <code>signify-openbsd -C -p \
         forja.pub -x SHA256SUMS.sig</code>, using the public key your site pinned.</p></section>"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_open_an_element() {
        assert_eq!(
            esc("<script>alert(\"x\")</script> & 'q'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;"
        );
    }
}
