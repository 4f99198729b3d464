//! Request and response bodies of the accounts API, and their parsing into validated commands.
//! Every offending field is reported at once.

use clinic_shared::envelope::{Language, Preferences, Role};
use clinic_shared::problem::{Problem, Validator};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::{NewDoctor, NewHospital, NewPatient, ProfileChanges};
use crate::domain::values::{BirthDate, Cnes, Cpf, Crm, Email, Name, Password, Phone, Specialty};
use crate::domain::{AccountStatus, DoctorSummary, Profile, SignIn, Tokens};

fn required<'a>(v: &mut Validator, field: &str, value: &'a Option<String>) -> Option<&'a str> {
    match value.as_deref() {
        Some(s) if !s.trim().is_empty() => Some(s),
        _ => {
            v.push(field, format!("{field} is required."));
            None
        }
    }
}

fn parse_required<T, E: std::fmt::Display>(
    v: &mut Validator,
    field: &str,
    value: &Option<String>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<T> {
    let raw = required(v, field, value)?;
    v.check(field, parse(raw))
}

fn parse_language(v: &mut Validator, field: &str, raw: Option<&str>) -> Option<Language> {
    match raw {
        None => None,
        Some("pt-BR") => Some(Language::PtBr),
        Some("en") => Some(Language::En),
        Some(_) => {
            v.push(field, "language must be pt-BR or en.");
            None
        }
    }
}

/// Contact preferences as sent by clients; missing members keep their defaults.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreferencesInput {
    pub email: Option<bool>,
    pub sms: Option<bool>,
    #[schema(example = "pt-BR")]
    pub language: Option<String>,
}

/// `POST /v1/accounts/patients`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignUpRequest {
    pub email: Option<String>,
    pub password: Option<String>,
    pub name: Option<String>,
    #[schema(example = "52998224725")]
    pub cpf: Option<String>,
    #[schema(example = "1990-04-12")]
    pub birth_date: Option<String>,
    #[schema(example = "+5511987654321")]
    pub phone: Option<String>,
    pub preferences: Option<PreferencesInput>,
}

impl SignUpRequest {
    /// # Errors
    /// 400 listing every invalid field.
    pub fn parse(self, today: jiff::civil::Date) -> Result<NewPatient, Problem> {
        let mut v = Validator::new();
        let email = parse_required(&mut v, "email", &self.email, Email::parse);
        let password = match self.password.as_deref() {
            Some(p) if !p.is_empty() => v.check("password", Password::parse(p)),
            _ => {
                v.push("password", "password is required.");
                None
            }
        };
        let name = parse_required(&mut v, "name", &self.name, Name::parse);
        let cpf = parse_required(&mut v, "cpf", &self.cpf, Cpf::parse);
        let birth_date = parse_required(&mut v, "birthDate", &self.birth_date, |raw| {
            BirthDate::parse(raw, today)
        });
        let phone = parse_required(&mut v, "phone", &self.phone, Phone::parse);
        let input = self.preferences.unwrap_or_default();
        let defaults = Preferences::default();
        let language = parse_language(&mut v, "preferences.language", input.language.as_deref());
        let preferences = Preferences {
            email: input.email.unwrap_or(defaults.email),
            sms: input.sms.unwrap_or(defaults.sms),
            language: language.unwrap_or(defaults.language),
        };
        v.finish()?;
        match (email, password, name, cpf, birth_date, phone) {
            (Some(email), Some(password), Some(name), Some(cpf), Some(birth_date), Some(phone)) => {
                Ok(NewPatient {
                    email,
                    password,
                    name,
                    cpf,
                    birth_date,
                    phone,
                    preferences,
                })
            }
            _ => Err(Problem::internal()),
        }
    }
}

/// `202` answer of every valid sign-up, whether or not the address was known: the next step is
/// always the code sent to the address.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignUpResponse {
    /// Always `PENDING_CONFIRMATION`.
    pub status: AccountStatus,
}

/// `POST /v1/accounts/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmRequest {
    pub email: Option<String>,
    pub code: Option<String>,
    /// The password chosen at sign-up: whoever confirms must be whoever signed up.
    pub password: Option<String>,
}

impl ConfirmRequest {
    /// # Errors
    /// 400 listing every invalid field.
    pub fn parse(self) -> Result<(Email, String, String), Problem> {
        let mut v = Validator::new();
        let email = parse_required(&mut v, "email", &self.email, Email::parse);
        let password = parse_required(&mut v, "password", &self.password, |raw| {
            if raw.is_empty() || raw.len() > 256 {
                Err("password is the one chosen at sign-up.")
            } else {
                Ok(raw.to_string())
            }
        });
        let code = parse_required(&mut v, "code", &self.code, |raw| {
            let code = raw.trim();
            if (4..=10).contains(&code.len()) && code.chars().all(|c| c.is_ascii_digit()) {
                Ok(code.to_string())
            } else {
                Err("code must be the digits we sent by e-mail.")
            }
        });
        v.finish()?;
        match (email, code, password) {
            (Some(email), Some(code), Some(password)) => Ok((email, code, password)),
            _ => Err(Problem::internal()),
        }
    }
}

/// `POST /v1/auth/token`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequest {
    pub username: Option<String>,
    pub password: Option<String>,
}

impl TokenRequest {
    /// # Errors
    /// 400 when a field is missing.
    pub fn parse(self) -> Result<(String, String), Problem> {
        let mut v = Validator::new();
        let username =
            required(&mut v, "username", &self.username).map(|u| u.trim().to_lowercase());
        let password = match self.password {
            Some(p) if !p.is_empty() => Some(p),
            _ => {
                v.push("password", "password is required.");
                None
            }
        };
        v.finish()?;
        username.zip(password).ok_or_else(Problem::internal)
    }
}

/// Tokens issued by a sign-in.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub id_token: String,
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub expires_in: i32,
}

impl From<Tokens> for TokenResponse {
    fn from(t: Tokens) -> Self {
        Self {
            id_token: t.id_token,
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            expires_in: t.expires_in,
        }
    }
}

/// A step the sign-in needs before tokens: `NEW_PASSWORD_REQUIRED` (the first sign-in of an
/// account created by staff), `SOFTWARE_TOKEN_MFA` (answer with the authenticator's code) or
/// `MFA_SETUP` (staff and doctors without an authenticator app: add `secretCode` to one — e.g.
/// from `otpauthUri` as a QR code — then answer with its code). Answer the MFA steps at
/// `POST /v1/auth/mfa` with the `session`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeResponse {
    #[schema(example = "NEW_PASSWORD_REQUIRED")]
    pub challenge: String,
    pub session: String,
    /// `MFA_SETUP` only: the authenticator secret (base32).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_code: Option<String>,
    /// `MFA_SETUP` only: the `otpauth://totp/…` URI of the secret, for a QR code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otpauth_uri: Option<String>,
}

/// Answer of `POST /v1/auth/token`: tokens, or a challenge.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SignInResponse {
    Tokens(TokenResponse),
    Challenge(ChallengeResponse),
}

impl SignInResponse {
    /// The answer for `outcome` of `username`'s sign-in.
    pub fn of(outcome: SignIn, username: &str) -> Self {
        let challenge = |name: &str, session: String| ChallengeResponse {
            challenge: name.into(),
            session,
            secret_code: None,
            otpauth_uri: None,
        };
        match outcome {
            SignIn::Tokens(t) => SignInResponse::Tokens(t.into()),
            SignIn::NewPasswordRequired { session } => {
                SignInResponse::Challenge(challenge("NEW_PASSWORD_REQUIRED", session))
            }
            SignIn::MfaRequired { session } => {
                SignInResponse::Challenge(challenge("SOFTWARE_TOKEN_MFA", session))
            }
            SignIn::MfaSetup { session, secret } => {
                let label: String =
                    url_escape(&format!("Clinic:{}", username.trim().to_lowercase()));
                let otpauth_uri = format!(
                    "otpauth://totp/{label}?secret={secret}&issuer=Clinic&algorithm=SHA1&digits=6&period=30"
                );
                SignInResponse::Challenge(ChallengeResponse {
                    secret_code: Some(secret),
                    otpauth_uri: Some(otpauth_uri),
                    ..challenge("MFA_SETUP", session)
                })
            }
        }
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986) and `:`.
fn url_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// `POST /v1/auth/mfa`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaRequest {
    pub username: Option<String>,
    pub session: Option<String>,
    /// The authenticator app's current 6-digit code.
    #[schema(example = "123456")]
    pub code: Option<String>,
}

impl MfaRequest {
    /// # Errors
    /// 400 listing every invalid field.
    pub fn parse(self) -> Result<(String, String, String), Problem> {
        let mut v = Validator::new();
        let username =
            required(&mut v, "username", &self.username).map(|u| u.trim().to_lowercase());
        let session = required(&mut v, "session", &self.session).map(str::to_string);
        let code = match self.code.as_deref().map(str::trim) {
            Some(c) if c.len() == 6 && c.chars().all(|d| d.is_ascii_digit()) => Some(c.to_string()),
            _ => {
                v.push("code", "code is the authenticator app's 6-digit code.");
                None
            }
        };
        v.finish()?;
        match (username, session, code) {
            (Some(u), Some(s), Some(c)) => Ok((u, s, c)),
            _ => Err(Problem::internal()),
        }
    }
}

/// `POST /v1/auth/new-password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewPasswordRequest {
    pub username: Option<String>,
    pub session: Option<String>,
    pub new_password: Option<String>,
}

impl NewPasswordRequest {
    /// # Errors
    /// 400 listing every invalid field.
    pub fn parse(self) -> Result<(String, String, Password), Problem> {
        let mut v = Validator::new();
        let username =
            required(&mut v, "username", &self.username).map(|u| u.trim().to_lowercase());
        let session = required(&mut v, "session", &self.session).map(str::to_string);
        let password = match self.new_password.as_deref() {
            Some(p) if !p.is_empty() => v.check("newPassword", Password::parse(p)),
            _ => {
                v.push("newPassword", "newPassword is required.");
                None
            }
        };
        v.finish()?;
        match (username, session, password) {
            (Some(u), Some(s), Some(p)) => Ok((u, s, p)),
            _ => Err(Problem::internal()),
        }
    }
}

/// `POST /v1/auth/refresh`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    pub refresh_token: Option<String>,
}

impl RefreshRequest {
    /// # Errors
    /// 400 when missing.
    pub fn parse(self) -> Result<String, Problem> {
        let mut v = Validator::new();
        let token = required(&mut v, "refreshToken", &self.refresh_token).map(str::to_string);
        v.finish()?;
        token.ok_or_else(Problem::internal)
    }
}

/// One's own profile.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileResponse {
    pub id: String,
    pub role: Role,
    pub status: AccountStatus,
    pub email: Option<String>,
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpf: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    pub phone: Option<String>,
    pub preferences: Preferences,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uf: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub specialty: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<Profile> for ProfileResponse {
    fn from(p: Profile) -> Self {
        Self {
            id: p.id,
            role: p.role,
            status: p.status,
            email: p.email,
            name: p.name,
            cpf: p.cpf,
            birth_date: p.birth_date,
            phone: p.phone,
            preferences: p.preferences,
            crm: p.crm,
            uf: p.uf,
            specialty: p.specialty,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// `PATCH /v1/me`: only the members present change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateMeRequest {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub preferences: Option<PreferencesInput>,
}

impl UpdateMeRequest {
    /// # Errors
    /// 400 listing every invalid field.
    pub fn parse(self) -> Result<ProfileChanges, Problem> {
        let mut v = Validator::new();
        let name = self
            .name
            .as_deref()
            .and_then(|raw| v.check("name", Name::parse(raw)));
        let phone = self
            .phone
            .as_deref()
            .and_then(|raw| v.check("phone", Phone::parse(raw)));
        let preferences = self.preferences.unwrap_or_default();
        let language = parse_language(
            &mut v,
            "preferences.language",
            preferences.language.as_deref(),
        );
        v.finish()?;
        Ok(ProfileChanges {
            name,
            phone,
            email_notifications: preferences.email,
            sms_notifications: preferences.sms,
            language,
        })
    }
}

/// `POST /v1/doctors`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterDoctorRequest {
    pub email: Option<String>,
    pub name: Option<String>,
    #[schema(example = "123456")]
    pub crm: Option<String>,
    #[schema(example = "SP")]
    pub uf: Option<String>,
    pub specialty: Option<String>,
    /// When absent, Cognito generates a temporary password and e-mails it.
    pub temporary_password: Option<String>,
}

impl RegisterDoctorRequest {
    /// # Errors
    /// 400 listing every invalid field.
    pub fn parse(self) -> Result<NewDoctor, Problem> {
        let mut v = Validator::new();
        let email = parse_required(&mut v, "email", &self.email, Email::parse);
        let name = parse_required(&mut v, "name", &self.name, Name::parse);
        let crm_raw = required(&mut v, "crm", &self.crm);
        let uf_raw = required(&mut v, "uf", &self.uf);
        let crm = match (crm_raw, uf_raw) {
            (Some(crm), Some(uf)) => match Crm::parse(crm, uf) {
                Ok(crm) => Some(crm),
                Err(errors) => {
                    for (field, err) in errors {
                        v.push(field, err.0);
                    }
                    None
                }
            },
            _ => None,
        };
        let specialty = parse_required(&mut v, "specialty", &self.specialty, Specialty::parse);
        let temporary_password = self
            .temporary_password
            .as_deref()
            .and_then(|raw| v.check("temporaryPassword", Password::parse(raw)));
        v.finish()?;
        match (email, name, crm, specialty) {
            (Some(email), Some(name), Some(crm), Some(specialty)) => Ok(NewDoctor {
                email,
                name,
                crm,
                specialty,
                temporary_password,
            }),
            _ => Err(Problem::internal()),
        }
    }
}

/// `201` answer with the new resource's id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedResponse {
    pub id: String,
}

/// A page of doctors.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoctorsPage {
    pub items: Vec<DoctorSummary>,
    pub next_cursor: Option<String>,
}

clinic_shared::page_response!(DoctorsPage, DoctorSummary);

/// `GET /v1/doctors` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DoctorsQuery {
    /// Only doctors of this specialty (case- and accent-insensitive).
    pub specialty: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// `POST /v1/hospitals`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterHospitalRequest {
    pub name: Option<String>,
    #[schema(example = "2077485")]
    pub cnes: Option<String>,
}

impl RegisterHospitalRequest {
    /// # Errors
    /// 400 listing every invalid field.
    pub fn parse(self) -> Result<NewHospital, Problem> {
        let mut v = Validator::new();
        let name = parse_required(&mut v, "name", &self.name, Name::parse);
        let cnes = parse_required(&mut v, "cnes", &self.cnes, Cnes::parse);
        v.finish()?;
        name.zip(cnes)
            .map(|(name, cnes)| NewHospital { name, cnes })
            .ok_or_else(Problem::internal)
    }
}

/// `201` answer of a hospital registration; the secret is shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HospitalCreatedResponse {
    pub id: String,
    pub client_id: String,
    pub client_secret: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> jiff::civil::Date {
        "2026-11-25".parse().unwrap()
    }

    #[test]
    fn sign_up_lists_every_bad_field() {
        let request: SignUpRequest = serde_json::from_value(serde_json::json!({
            "email": "nope", "password": "weak", "cpf": "12345678900", "birthDate": "2030-01-01",
            "phone": "11987654321", "preferences": {"language": "fr"}
        }))
        .unwrap();
        let problem = request.parse(today()).unwrap_err();
        let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "email",
                "password",
                "name",
                "cpf",
                "birthDate",
                "phone",
                "preferences.language"
            ]
        );
    }

    #[test]
    fn sign_up_defaults_preferences() {
        let request: SignUpRequest = serde_json::from_value(serde_json::json!({
            "email": "Ana@Example.com", "password": "Passw0rdOk", "name": "Ana Souza", "cpf": "529.982.247-25",
            "birthDate": "1990-04-12", "phone": "+5511987654321"
        }))
        .unwrap();
        let patient = request.parse(today()).unwrap();
        assert_eq!(patient.email.as_str(), "ana@example.com");
        assert_eq!(patient.preferences, Preferences::default());
    }

    #[test]
    fn doctor_reports_crm_and_uf_separately() {
        let request: RegisterDoctorRequest = serde_json::from_value(serde_json::json!({
            "email": "doc@example.com", "name": "Dr. House", "crm": "12", "uf": "ZZ", "specialty": "Cardiologia"
        }))
        .unwrap();
        let problem = request.parse().unwrap_err();
        let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["crm", "uf"]);
    }

    #[test]
    fn patch_validates_only_present_fields() {
        let request: UpdateMeRequest =
            serde_json::from_value(serde_json::json!({"preferences": {"sms": false}})).unwrap();
        let changes = request.parse().unwrap();
        assert_eq!(changes.sms_notifications, Some(false));
        assert!(changes.name.is_none());
        let request: UpdateMeRequest =
            serde_json::from_value(serde_json::json!({"phone": "123"})).unwrap();
        assert_eq!(request.parse().unwrap_err().errors[0].field, "phone");
    }
}
