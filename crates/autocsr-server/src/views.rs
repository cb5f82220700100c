//! The customer's pages (maud templates: every interpolation is HTML-escaped). No inline
//! script or style: the CSP allows only the two files under /static/.

use std::time::Duration;

use maud::{DOCTYPE, Markup, html};

use crate::api::CsrReport;

/// The signed-link fields every form on the page carries.
#[derive(Debug, Clone)]
pub(crate) struct LinkFields {
    pub(crate) order_id: String,
    pub(crate) exp: u64,
    pub(crate) sig: String,
    pub(crate) token: String,
}

impl LinkFields {
    fn archive_href(&self) -> String {
        format!(
            "/o/{}/archive?exp={}&sig={}",
            self.order_id, self.exp, self.sig
        )
    }

    fn hidden_inputs(&self) -> Markup {
        html! {
            input type="hidden" name="exp" value=(self.exp);
            input type="hidden" name="sig" value=(self.sig);
            input type="hidden" name="token" value=(self.token);
        }
    }
}

/// What the order page shows about an order whose code can still be revealed.
#[derive(Debug)]
pub(crate) struct Available<'a> {
    pub(crate) link: &'a LinkFields,
    pub(crate) expires_at: &'a str,
    pub(crate) time_left: Duration,
    pub(crate) format: Option<&'a str>,
    /// The code's groups, when the customer asked for it (POST only).
    pub(crate) revealed: Option<&'a [&'a str]>,
    pub(crate) reveals_left: Option<u64>,
}

/// Why an order's code is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gone {
    Expired,
    Revoked,
    /// Purged (or never existed: the page does not tell the difference).
    Missing,
    /// The reveal limit was reached.
    LimitReached,
}

fn layout(title: &str, with_copy_script: bool, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex, nofollow";
                title { (title) }
                link rel="stylesheet" href="/static/style.css";
                @if with_copy_script {
                    script src="/static/copy.js" defer {}
                }
            }
            body {
                main { (body) }
            }
        }
    }
}

/// "6 days, 23 hours": the two largest units.
pub(crate) fn time_left(left: Duration) -> String {
    let total = left.as_secs();
    let units = [
        (total / 86_400, "day"),
        (total % 86_400 / 3_600, "hour"),
        (total % 3_600 / 60, "minute"),
        (total % 60, "second"),
    ];
    let parts: Vec<String> = units
        .iter()
        .skip_while(|(count, _)| *count == 0)
        .take(2)
        .filter(|(count, _)| *count > 0)
        .map(|(count, unit)| format!("{count} {unit}{}", if *count == 1 { "" } else { "s" }))
        .collect();
    if parts.is_empty() {
        "less than a second".to_owned()
    } else {
        parts.join(", ")
    }
}

/// `2026-12-08T17:00:00Z` as `2026-12-08 17:00:00 UTC`.
pub(crate) fn human_time(rfc3339: &str) -> String {
    rfc3339.replacen('T', " ", 1).replace('Z', " UTC")
}

fn instructions(extension: &str) -> Markup {
    html! {
        section id="instructions" {
            h2 { "How to open the archive" }
            p { "The archive is encrypted with AES-256. Open it with a program that asks for the unlock code:" }
            ul {
                li id="os-windows" {
                    strong { "Windows: " } "7-Zip (7-zip.org). Right-click the file, 7-Zip, Extract. "
                    "Explorer's built-in ZIP folders cannot open AES-encrypted archives."
                }
                li id="os-macos" {
                    strong { "macOS: " } "The Unarchiver or Keka. "
                    "Archive Utility (double-click) cannot open AES-encrypted ZIP or 7z archives."
                }
                li id="os-linux" {
                    strong { "Linux: " } "7-Zip: " code { "7zz x order." (extension) }
                    " and type the code when it asks (do not put it on the command line)."
                }
            }
            p {
                "Inside are " code { "private-key.pem" } " (your private key: keep it secret), "
                code { "certificate-request.csr" } " (already sent to the certificate authority) and "
                code { "README.txt" } "."
            }
        }
    }
}

/// The page of an order whose code can be revealed (and, after the POST, is shown).
pub(crate) fn available_page(view: &Available<'_>) -> Markup {
    let link = view.link;
    let extension = view.format.unwrap_or("zip");
    let body = html! {
        h1 { "Your certificate order" }
        p class="order" { "Order " code { (link.order_id) } }
        p class="state ready" id="state" {
            "Ready. The unlock code can be shown for another "
            strong id="time-left" { (time_left(view.time_left)) }
            " (until " (human_time(view.expires_at)) ")."
        }
        section id="download" {
            h2 { "1. Download the archive" }
            p {
                a class="button" id="download-archive" href=(link.archive_href()) download {
                    "Download order." (extension)
                }
            }
            p class="hint" { "It holds your new private key, encrypted: without the unlock code nobody can open it." }
        }
        section id="code" {
            h2 { "2. Unlock code" }
            @if let Some(groups) = view.revealed {
                p { "Your unlock code:" }
                p class="code" id="unlock-code" data-code=(groups.join("-")) {
                    @for (index, group) in groups.iter().enumerate() {
                        @if index > 0 { span class="dash" aria-hidden="true" { "-" } }
                        span class="group" { (group) }
                    }
                }
                p { button type="button" id="copy-code" hidden { "Copy the code" } }
                p class="hint" { "Dashes are optional when you type it. Keep it until you have opened the archive." }
            } @else {
                form method="post" action={ "/o/" (link.order_id) "/reveal" } {
                    (link.hidden_inputs())
                    button type="submit" id="show-code" { "Show unlock code" }
                }
            }
            @if let Some(left) = view.reveals_left {
                p class="hint" { "The code can be shown " (left) " more time" @if left != 1 { "s" } "." }
            }
            p id="never-emailed" {
                strong { "The unlock code is never sent by e-mail." }
                " It is shown only on this page, and only until the time above."
            }
        }
        (instructions(extension))
    };
    layout("Your certificate order", view.revealed.is_some(), &body)
}

/// The page of an order whose code is gone, with the CSR check form (and its report).
pub(crate) fn gone_page(
    link: &LinkFields,
    gone: Gone,
    when: Option<&str>,
    report: Option<&CsrReport>,
) -> Markup {
    let body = html! {
        h1 { "Your certificate order" }
        p class="order" { "Order " code { (link.order_id) } }
        p class="state gone" id="state" {
            @match gone {
                Gone::Expired => {
                    "The unlock code expired"
                    @if let Some(when) = when { " on " (human_time(when)) }
                    "."
                }
                Gone::Revoked => { "This order was revoked and its unlock code destroyed." }
                Gone::Missing => { "The unlock code of this order no longer exists." }
                Gone::LimitReached => { "The unlock code has been shown as often as this order allows." }
            }
        }
        @if gone == Gone::LimitReached {
            section id="download" {
                p {
                    "If you noted the code, the archive can still be downloaded until the window closes: "
                    a id="download-archive" href=(link.archive_href()) download { "download the archive" } "."
                }
            }
        }
        section id="reissue" {
            h2 { "What now" }
            p {
                "The code " strong { "cannot be regenerated" } ": no copy of it was kept, "
                "and the archive cannot be opened without it. "
                "To get your certificate, reissue it with a new CSR: order a new key from your "
                "account, or make your own key and CSR and check it here first."
            }
        }
        section id="check-csr" {
            h2 { "Check your own CSR" }
            form method="post" action={ "/o/" (link.order_id) "/check-csr" } {
                (link.hidden_inputs())
                label for="csr" { "Paste your CSR (the text from -----BEGIN CERTIFICATE REQUEST----- to the END line):" }
                textarea id="csr" name="csr" rows="10" spellcheck="false" autocomplete="off" {}
                button type="submit" id="check" { "Check the CSR" }
            }
            @if let Some(report) = report {
                (report_markup(report))
            }
        }
    };
    layout("Your certificate order", false, &body)
}

fn report_markup(report: &CsrReport) -> Markup {
    html! {
        div id="report" class={ "report " @if report.accepted { "accepted" } @else { "refused" } } {
            @if report.accepted {
                p { strong { "This CSR can be used." } " Submit it from your account to reissue the certificate." }
            } @else {
                p { strong { "This CSR cannot be used." } " Fix what is listed as an error and check it again." }
            }
            @if !report.names.is_empty() {
                p { "Names: " @for (index, name) in report.names.iter().enumerate() {
                    @if index > 0 { ", " } code { (name) }
                } }
            }
            @if let Some(key) = &report.key { p { "Key: " (key) } }
            @if !report.findings.is_empty() {
                ul {
                    @for finding in &report.findings {
                        li class=(finding.severity) {
                            strong { (finding.severity) ": " } (finding.message)
                        }
                    }
                }
            }
        }
    }
}

/// A plain error page: bad or expired link, too many requests, unknown page.
pub(crate) fn error_page(title: &str, message: &str) -> Markup {
    let body = html! {
        h1 { (title) }
        p { (message) }
    };
    layout(title, false, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_shows_the_two_largest_units() {
        assert_eq!(
            time_left(Duration::from_secs(6 * 86_400 + 23 * 3_600 + 59)),
            "6 days, 23 hours"
        );
        assert_eq!(time_left(Duration::from_secs(3_600 + 1)), "1 hour");
        assert_eq!(time_left(Duration::from_secs(61)), "1 minute, 1 second");
        assert_eq!(time_left(Duration::from_secs(5)), "5 seconds");
        assert_eq!(time_left(Duration::ZERO), "less than a second");
    }

    #[test]
    fn markup_is_escaped() {
        let link = LinkFields {
            order_id: "<b>".to_owned(),
            exp: 1,
            sig: "\"x".to_owned(),
            token: "t".to_owned(),
        };
        let page = gone_page(&link, Gone::Missing, None, None).into_string();
        assert!(!page.contains("<b>"));
        assert!(page.contains("&lt;b&gt;"));
        assert!(!page.contains("<script>"));
    }
}
