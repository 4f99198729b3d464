//! Message templates: one plain-text file (blocks `subject`, `text`, `sms`) and one HTML file per
//! template and language under `templates/`, embedded in the binary and rendered with minijinja.
//! HTML files are auto-escaped (a hospital name cannot inject markup); text files are not.
//!
//! Templates get only what a message may show: links into the portal, and for bookings the
//! hospital, date and time. Dates and times are shown in Brasília time (UTC−3; Brazil has had no
//! daylight saving time since 2019), which is what the clinic's hospitals use.

use clinic_shared::envelope::Language;
use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};
use std::collections::BTreeMap;

use minijinja::value::Value;
use minijinja::{Environment, UndefinedBehavior};

use crate::domain::{MessageParams, RenderedMessage, TemplateId};

/// Every template file, embedded at build time.
const FILES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    (
        "pt-BR/layout.html",
        include_str!("../../templates/pt-BR/layout.html"),
    ),
    (
        "pt-BR/footer.txt",
        include_str!("../../templates/pt-BR/footer.txt"),
    ),
    (
        "pt-BR/welcome.txt",
        include_str!("../../templates/pt-BR/welcome.txt"),
    ),
    (
        "pt-BR/welcome.html",
        include_str!("../../templates/pt-BR/welcome.html"),
    ),
    (
        "pt-BR/doctor_first_access.txt",
        include_str!("../../templates/pt-BR/doctor_first_access.txt"),
    ),
    (
        "pt-BR/doctor_first_access.html",
        include_str!("../../templates/pt-BR/doctor_first_access.html"),
    ),
    (
        "pt-BR/booking_confirmed.txt",
        include_str!("../../templates/pt-BR/booking_confirmed.txt"),
    ),
    (
        "pt-BR/booking_confirmed.html",
        include_str!("../../templates/pt-BR/booking_confirmed.html"),
    ),
    (
        "pt-BR/booking_cancelled.txt",
        include_str!("../../templates/pt-BR/booking_cancelled.txt"),
    ),
    (
        "pt-BR/booking_cancelled.html",
        include_str!("../../templates/pt-BR/booking_cancelled.html"),
    ),
    (
        "pt-BR/exam_completed.txt",
        include_str!("../../templates/pt-BR/exam_completed.txt"),
    ),
    (
        "pt-BR/exam_completed.html",
        include_str!("../../templates/pt-BR/exam_completed.html"),
    ),
    (
        "pt-BR/result_ready.txt",
        include_str!("../../templates/pt-BR/result_ready.txt"),
    ),
    (
        "pt-BR/result_ready.html",
        include_str!("../../templates/pt-BR/result_ready.html"),
    ),
    (
        "pt-BR/report_ready.txt",
        include_str!("../../templates/pt-BR/report_ready.txt"),
    ),
    (
        "pt-BR/report_ready.html",
        include_str!("../../templates/pt-BR/report_ready.html"),
    ),
    (
        "pt-BR/sign_up_repeated.txt",
        include_str!("../../templates/pt-BR/sign_up_repeated.txt"),
    ),
    (
        "pt-BR/sign_up_repeated.html",
        include_str!("../../templates/pt-BR/sign_up_repeated.html"),
    ),
    (
        "en/layout.html",
        include_str!("../../templates/en/layout.html"),
    ),
    (
        "en/footer.txt",
        include_str!("../../templates/en/footer.txt"),
    ),
    (
        "en/welcome.txt",
        include_str!("../../templates/en/welcome.txt"),
    ),
    (
        "en/welcome.html",
        include_str!("../../templates/en/welcome.html"),
    ),
    (
        "en/doctor_first_access.txt",
        include_str!("../../templates/en/doctor_first_access.txt"),
    ),
    (
        "en/doctor_first_access.html",
        include_str!("../../templates/en/doctor_first_access.html"),
    ),
    (
        "en/booking_confirmed.txt",
        include_str!("../../templates/en/booking_confirmed.txt"),
    ),
    (
        "en/booking_confirmed.html",
        include_str!("../../templates/en/booking_confirmed.html"),
    ),
    (
        "en/booking_cancelled.txt",
        include_str!("../../templates/en/booking_cancelled.txt"),
    ),
    (
        "en/booking_cancelled.html",
        include_str!("../../templates/en/booking_cancelled.html"),
    ),
    (
        "en/exam_completed.txt",
        include_str!("../../templates/en/exam_completed.txt"),
    ),
    (
        "en/exam_completed.html",
        include_str!("../../templates/en/exam_completed.html"),
    ),
    (
        "en/result_ready.txt",
        include_str!("../../templates/en/result_ready.txt"),
    ),
    (
        "en/result_ready.html",
        include_str!("../../templates/en/result_ready.html"),
    ),
    (
        "en/report_ready.txt",
        include_str!("../../templates/en/report_ready.txt"),
    ),
    (
        "en/report_ready.html",
        include_str!("../../templates/en/report_ready.html"),
    ),
    (
        "en/sign_up_repeated.txt",
        include_str!("../../templates/en/sign_up_repeated.txt"),
    ),
    (
        "en/sign_up_repeated.html",
        include_str!("../../templates/en/sign_up_repeated.html"),
    ),
];

/// Longest hospital name a message shows (longer ones are cut with an ellipsis).
const MAX_HOSPITAL_CHARS: usize = 80;

/// A template that does not load or render: a bug in a template file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template error: {0}")]
pub struct TemplateError(pub String);

impl From<minijinja::Error> for TemplateError {
    fn from(err: minijinja::Error) -> Self {
        TemplateError(format!("{err:#}"))
    }
}

/// The loaded templates and the portal they link to.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    portal_url: String,
}

impl Templates {
    /// Loads every template; links point into `portal_url`.
    ///
    /// # Errors
    /// [`TemplateError`] when a file does not parse (caught by the unit tests).
    pub fn new(portal_url: &str) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        // A variable a template uses but the renderer does not give is a bug, not an empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in FILES {
            env.add_template(name, source)?;
        }
        Ok(Templates {
            env,
            portal_url: portal_url.trim_end_matches('/').to_string(),
        })
    }

    /// Renders `template` in `language`.
    ///
    /// # Errors
    /// [`TemplateError`] when a file uses a variable it is not given (a bug).
    pub fn render(
        &self,
        template: TemplateId,
        language: Language,
        params: &MessageParams,
    ) -> Result<RenderedMessage, TemplateError> {
        let lang = language.as_str();
        let brasilia = TimeZone::fixed(Offset::constant(-3));
        let when = params.scheduled_at.map(|t| t.to_zoned(brasilia.clone()));
        let (date, time) = match &when {
            Some(zoned) => (
                Some(match language {
                    Language::PtBr => zoned.strftime("%d/%m/%Y").to_string(),
                    Language::En => zoned.strftime("%-d %b %Y").to_string(),
                }),
                Some(zoned.strftime("%H:%M").to_string()),
            ),
            None => (None, None),
        };
        let mut vars: BTreeMap<&str, Value> = BTreeMap::from([
            ("lang", Value::from(lang)),
            (
                "hospital",
                Value::from(params.hospital.as_deref().map(shorten)),
            ),
            ("date", Value::from(date)),
            ("time", Value::from(time)),
            (
                "password_sent_by_email",
                Value::from(params.password_sent_by_email),
            ),
        ]);
        let action_url = format!("{}{}", self.portal_url, template.portal_path());
        vars.insert("action_url", Value::from(action_url.clone()));
        let text_name = format!("{lang}/{}.txt", template.as_str());
        let mut captured = self
            .env
            .get_template(&text_name)?
            .render_captured(Value::from(vars.clone()))?;
        let subject = captured.with_state_mut(|state| state.render_block("subject"))?;
        let text = captured.with_state_mut(|state| state.render_block("text"))?;
        let sms = captured.with_state_mut(|state| state.render_block("sms"))?;
        let subject = one_line(&subject);
        // The link comes from configuration, not from events: escaped here for an attribute and
        // marked safe, so that the auto-escaper does not also turn every `/` into an entity.
        vars.insert(
            "action_url",
            Value::from_safe_string(escape_attribute(&action_url)),
        );
        vars.insert("subject", Value::from(subject.clone()));
        let html = self
            .env
            .get_template(&format!("{lang}/{}.html", template.as_str()))?
            .render(Value::from(vars))?;
        Ok(RenderedMessage {
            subject,
            text: tidy(&text),
            html: tidy(&html),
            sms: one_line(&sms),
        })
    }
}

/// `value` with runs of whitespace (newlines included) folded into one space.
fn one_line(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Trailing spaces removed from every line, at most one blank line in a row, trimmed.
fn tidy(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut blank_run = 0;
    for line in value.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// HTML-escapes a value for a double-quoted attribute (and for text).
fn escape_attribute(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

fn shorten(value: &str) -> String {
    let value = one_line(value);
    match value.char_indices().nth(MAX_HOSPITAL_CHARS) {
        Some((cut, _)) => format!("{}…", value[..cut].trim_end()),
        None => value,
    }
}

/// A fixed instant for examples and tests: 2025-03-12 14:30 in Brasília.
pub fn sample_time() -> Timestamp {
    Timestamp::from_second(1_741_800_600).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> Templates {
        Templates::new("https://portal.clinic.example/").expect("templates load")
    }

    fn params() -> MessageParams {
        MessageParams {
            hospital: Some("Hospital São Lucas & Filhos <Unidade Centro>".into()),
            scheduled_at: Some(sample_time()),
            password_sent_by_email: true,
        }
    }

    fn snapshot(message: &RenderedMessage) -> String {
        format!(
            "subject: {}\nsms: {}\n--- text ---\n{}--- html ---\n{}",
            message.subject, message.sms, message.text, message.html
        )
    }

    #[test]
    fn every_template_in_every_language_matches_its_snapshot() {
        let templates = templates();
        for template in TemplateId::ALL {
            for language in [Language::PtBr, Language::En] {
                let message = templates
                    .render(template, language, &params())
                    .unwrap_or_else(|e| panic!("{template} {}: {e}", language.as_str()));
                insta::assert_snapshot!(
                    format!("{}__{}", template.as_str(), language.as_str()),
                    snapshot(&message)
                );
            }
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let message = templates()
            .render(TemplateId::BookingConfirmed, Language::En, &params())
            .unwrap();
        assert!(
            message
                .html
                .contains("São Lucas &amp; Filhos &lt;Unidade Centro&gt;")
        );
        assert!(!message.html.contains("<Unidade"));
        assert!(message.text.contains("São Lucas & Filhos <Unidade Centro>"));
        assert!(message.sms.contains("São Lucas & Filhos <Unidade Centro>"));
    }

    #[test]
    fn bookings_are_shown_in_brasilia_time() {
        let templates = templates();
        let pt = templates
            .render(TemplateId::BookingConfirmed, Language::PtBr, &params())
            .unwrap();
        assert!(pt.text.contains("12/03/2025"), "{}", pt.text);
        assert!(pt.text.contains("14:30"), "{}", pt.text);
        let en = templates
            .render(TemplateId::BookingConfirmed, Language::En, &params())
            .unwrap();
        assert!(en.text.contains("12 Mar 2025"), "{}", en.text);
    }

    #[test]
    fn links_point_into_the_portal_and_subjects_are_one_line() {
        let templates = templates();
        for template in TemplateId::ALL {
            for language in [Language::PtBr, Language::En] {
                let m = templates.render(template, language, &params()).unwrap();
                let link = format!("https://portal.clinic.example{}", template.portal_path());
                assert!(m.text.contains(&link), "{template}: {}", m.text);
                assert!(m.html.contains(&link), "{template}");
                assert!(!m.subject.contains('\n') && !m.subject.is_empty());
                assert!(
                    !m.sms.is_empty() && m.sms.chars().count() <= 320,
                    "{template}"
                );
                assert!(m.html.contains(&format!("lang=\"{}\"", language.as_str())));
            }
        }
    }

    #[test]
    fn no_template_mentions_results_content_or_exam_types() {
        // Only ids reach the templates, so this guards the wording: results are "available",
        // never described.
        let templates = templates();
        for language in [Language::PtBr, Language::En] {
            let m = templates
                .render(TemplateId::ResultReady, language, &params())
                .unwrap();
            for word in ["diagn", "positiv", "negativ", "normal"] {
                assert!(!m.text.to_lowercase().contains(word), "{word}");
            }
        }
    }

    #[test]
    fn long_hospital_names_are_cut() {
        let long = "H".repeat(200);
        assert_eq!(shorten(&long).chars().count(), MAX_HOSPITAL_CHARS + 1);
        assert_eq!(shorten("  Santa\n Casa "), "Santa Casa");
    }

    #[test]
    fn configured_links_are_escaped_for_attributes() {
        let templates = Templates::new("https://portal.example/?a=1&b=\"2\"").unwrap();
        let m = templates
            .render(TemplateId::Welcome, Language::En, &params())
            .unwrap();
        assert!(
            m.html
                .contains("href=\"https://portal.example/?a=1&amp;b=&quot;2&quot;/\"")
        );
        assert!(m.text.contains("https://portal.example/?a=1&b=\"2\"/"));
    }

    #[test]
    fn tidy_folds_blank_lines() {
        assert_eq!(tidy("\n a  \n\n\n\nb\n"), "a\n\nb\n");
    }
}
