//! Property tests of the parsers that take outside input: CPF, e-mail, the event envelope, the
//! hospital batch item, the receipt access code, S3 event keys and notifications, the
//! pagination cursor, the caller's claims and the Lambda authorizer's token handling. For each:
//! no panic on arbitrary input, and a round trip where there is one.
//!
//! `PROPTEST_CASES` raises the number of cases per property (256 by default) for a longer run.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clinic_accounts::domain::error::StoreError;
use clinic_accounts::inbound::authorizer::{Authorizer, AuthorizerConfig, HospitalDirectory};
use clinic_exam_results::domain::claim::AccessCode;
use clinic_exam_results::domain::ingest::parse_item;
use clinic_file_management::inbound::events::{created_objects, decode_key};
use clinic_shared::auth::Caller;
use clinic_shared::envelope::{ENVELOPE_VERSION, Envelope, EventType};
use clinic_shared::pagination::{decode_cursor, encode_cursor};
use clinic_shared::values::{Cpf, Email};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    json_tree(true)
}

/// Arbitrary JSON with or without floating-point numbers (serde_json reads some floats back one
/// unit in the last place off, so a float does not survive a round trip exactly; no event of the
/// catalogue carries one).
fn json_tree(floats: bool) -> impl Strategy<Value = Value> {
    let float = any::<f64>()
        .prop_filter("floats wanted", move |_| floats)
        .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number));
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
    ];
    let leaf = if floats {
        prop_oneof![5 => leaf, 1 => float].boxed()
    } else {
        leaf.boxed()
    };
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON object with some of `fields` (each arbitrary, or a plausible value) and noise.
fn object_with(fields: &'static [(&'static str, &'static str)]) -> impl Strategy<Value = Value> {
    let entries: Vec<BoxedStrategy<Option<(String, Value)>>> = fields
        .iter()
        .map(|(name, plausible)| {
            let name = name.to_string();
            let plausible: Value = serde_json::from_str(plausible).unwrap_or(Value::Null);
            prop_oneof![
                2 => Just(None),
                4 => Just(Some((name.clone(), plausible))),
                3 => json_value().prop_map(move |v| Some((name.clone(), v))),
            ]
            .boxed()
        })
        .collect();
    (
        entries,
        prop::collection::btree_map("[a-z]{1,8}", json_value(), 0..3),
    )
        .prop_map(|(chosen, noise)| {
            let mut object: serde_json::Map<String, Value> = noise.into_iter().collect();
            for (k, v) in chosen.into_iter().flatten() {
                object.insert(k, v);
            }
            Value::Object(object)
        })
}

/// Nine base digits and their two check digits.
fn valid_cpf() -> impl Strategy<Value = String> {
    prop::collection::vec(0u32..10, 9)
        .prop_filter("not all equal", |d| d.iter().any(|x| *x != d[0]))
        .prop_map(|mut digits| {
            for len in [9usize, 10] {
                let sum: u32 = digits[..len]
                    .iter()
                    .zip((2..=len as u32 + 1).rev())
                    .map(|(d, w)| d * w)
                    .sum();
                let rest = (sum * 10) % 11;
                digits.push(if rest == 10 { 0 } else { rest });
            }
            digits.iter().map(u32::to_string).collect()
        })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #[test]
    fn cpf_never_panics_and_keeps_only_digits(raw in ".{0,40}") {
        if let Ok(cpf) = Cpf::parse(&raw) {
            prop_assert_eq!(cpf.as_str().len(), 11);
            prop_assert!(cpf.as_str().chars().all(|c| c.is_ascii_digit()));
            prop_assert_eq!(Cpf::parse(cpf.as_str()), Ok(cpf.clone()));
            // Debug never shows more than the last two digits.
            let shown = format!("{cpf:?}");
            prop_assert!(!shown.contains(&cpf.as_str()[..9]));
        }
    }

    #[test]
    fn valid_cpfs_parse_plain_or_formatted_and_a_wrong_check_digit_fails(
        cpf in valid_cpf(), bump in 1u32..10,
    ) {
        let parsed = Cpf::parse(&cpf);
        prop_assert!(parsed.is_ok(), "{}", cpf);
        let formatted = format!("{}.{}.{}-{}", &cpf[0..3], &cpf[3..6], &cpf[6..9], &cpf[9..11]);
        prop_assert_eq!(Cpf::parse(&formatted), parsed.clone());
        prop_assert_eq!(Cpf::parse(&format!("  {cpf} ")), parsed);
        let last = cpf[10..].parse::<u32>().unwrap_or(0);
        let wrong = format!("{}{}", &cpf[..10], (last + bump) % 10);
        prop_assert!(Cpf::parse(&wrong).is_err());
    }

    #[test]
    fn email_never_panics_and_normalises_once(raw in ".{0,80}") {
        if let Ok(email) = Email::parse(&raw) {
            let value = email.as_str();
            prop_assert!(value.len() <= 254);
            prop_assert_eq!(value, value.trim());
            prop_assert_eq!(value.to_lowercase(), value);
            prop_assert_eq!(value.matches('@').count(), 1);
            prop_assert_eq!(Email::parse(value), Ok(email.clone()));
        }
    }

    #[test]
    fn plausible_emails_parse(
        local in "[A-Za-z0-9]{1,8}([._+-][A-Za-z0-9]{1,8}){0,3}",
        domain in "[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){1,3}",
    ) {
        let raw = format!(" {local}@{domain} ");
        let email = Email::parse(&raw);
        prop_assert!(email.is_ok(), "{}", raw);
        prop_assert_eq!(email.map(|e| e.as_str().to_string()), Ok(format!("{local}@{domain}").to_lowercase()));
    }

    #[test]
    fn envelope_parse_never_panics_on_text(raw in ".{0,200}") {
        let _ = Envelope::parse(&raw);
    }

    #[test]
    fn envelope_parse_never_panics_on_json(
        value in object_with(&[
            ("id", "\"01J00000000000000000000000\""), ("type", "\"exam.created\""),
            ("version", "1"), ("source", "\"clinic.exams\""), ("time", "\"2030-01-01T00:00:00Z\""),
            ("subject", "\"e1\""), ("data", "{}"), ("trace", "\"00-0-0-01\""),
        ]),
    ) {
        if let Ok(envelope) = Envelope::parse(&value.to_string()) {
            prop_assert_eq!(envelope.version, ENVELOPE_VERSION);
        }
    }

    #[test]
    fn envelopes_round_trip(
        id in "[0-9A-Z]{26}", type_index in 0usize..EventType::ALL.len(),
        source in "[a-z.]{1,20}", seconds in 0i64..4_102_444_800, nanos in 0i32..1_000_000_000,
        subject in ".{0,30}", data in json_tree(false), trace in ".{0,60}",
    ) {
        let envelope = Envelope {
            id,
            event_type: EventType::ALL[type_index],
            version: ENVELOPE_VERSION,
            source,
            time: jiff::Timestamp::new(seconds, nanos).expect("time"),
            subject,
            data,
            trace,
        };
        prop_assert_eq!(Envelope::parse(&envelope.to_json()), Ok(envelope));
    }

    #[test]
    fn batch_items_never_panic(
        item in prop_oneof![
            json_value(),
            object_with(&[
                ("externalId", "\"LAB-1\""), ("version", "1"), ("patientCpf", "\"52998224725\""),
                ("patientEmail", "\"ana@example.com\""), ("examType", "\"hemograma\""),
                ("status", "\"SCHEDULED\""), ("scheduledAt", "\"2030-01-10T09:00:00Z\""),
                ("doctorCrm", "\"123456/SP\""),
            ]),
        ],
    ) {
        match parse_item(&item) {
            Ok(parsed) => {
                prop_assert!(parsed.version.get() >= 1);
                prop_assert_eq!(parsed.match_key().is_some(), parsed.patient_email.is_some());
            }
            Err(rejected) => {
                prop_assert!(!rejected.reason.is_empty());
                prop_assert!(rejected.external_id.is_none_or(|e| e.chars().count() <= 64));
            }
        }
    }

    #[test]
    fn well_formed_batch_items_parse(
        external in "[A-Za-z0-9-]{1,30}", version in 1u64..1_000_000, cpf in valid_cpf(),
        status in prop::sample::select(vec!["SCHEDULED", "COLLECTED", "COMPLETED", "CANCELLED"]),
        day in 1u32..28,
    ) {
        let item = json!({"externalId": external, "version": version, "patientCpf": cpf,
            "examType": "hemograma", "status": status,
            "scheduledAt": format!("2030-01-{day:02}T09:00:00Z")});
        let parsed = parse_item(&item);
        prop_assert!(parsed.is_ok(), "{:?}", parsed);
    }

    #[test]
    fn access_codes_never_panic(raw in ".{0,40}") {
        if let Ok(code) = AccessCode::parse(&raw) {
            prop_assert_eq!(code.protocol().len(), 8);
            prop_assert_eq!(AccessCode::parse(&code.display()), Ok(code.clone()));
            let shown = format!("{code:?}");
            prop_assert!(!shown.contains(&code.display()[10..]));
        }
    }

    #[test]
    fn generated_access_codes_round_trip_as_typed(spaces in prop::collection::vec(any::<bool>(), 19)) {
        let code = AccessCode::generate().expect("random");
        let display = code.display();
        prop_assert_eq!(AccessCode::parse(&display), Ok(code.clone()));
        // Lower case, with dashes dropped or turned into spaces, reads the same.
        let typed: String = display
            .chars()
            .zip(&spaces)
            .map(|(c, space)| match (c, space) {
                ('-', true) => ' ',
                (c, _) => c.to_ascii_lowercase(),
            })
            .collect();
        prop_assert_eq!(AccessCode::parse(&typed), Ok(code.clone()));
        prop_assert_eq!(code.secret_digest().len(), 64);
    }

    #[test]
    fn s3_keys_decode_without_panicking(raw in ".{0,80}") {
        let _ = decode_key(&raw);
    }

    #[test]
    fn s3_keys_round_trip_through_event_encoding(key in "[\\PC]{0,60}") {
        // S3 event keys are URL-encoded with spaces as `+`.
        let encoded: String = key
            .split(' ')
            .map(|part| percent_encoding::utf8_percent_encode(part, percent_encoding::NON_ALPHANUMERIC).to_string())
            .collect::<Vec<_>>()
            .join("+");
        prop_assert_eq!(decode_key(&encoded), key);
    }

    #[test]
    fn s3_notifications_never_panic(
        body in prop_oneof![
            ".{0,200}".boxed(),
            json_value().prop_map(|v| v.to_string()).boxed(),
            (".{0,40}", json_value(), prop::option::of(any::<u64>())).prop_map(|(key, name, size)| {
                json!({"Records": [{"eventName": name, "s3": {"object": {"key": key, "size": size}}}]}).to_string()
            }).boxed(),
        ],
    ) {
        let _ = created_objects(&body);
    }

    #[test]
    fn cursors_never_panic(raw in ".{0,120}", expected in prop::collection::vec("[a-z]{1,6}", 0..3)) {
        let keys: Vec<&str> = expected.iter().map(String::as_str).collect();
        if let Ok(key) = decode_cursor(&raw, &keys) {
            prop_assert_eq!(key.len(), keys.len());
        }
    }

    #[test]
    fn forged_cursors_are_refused(json in json_value()) {
        let cursor = URL_SAFE_NO_PAD.encode(json.to_string());
        if let Ok(key) = decode_cursor(&cursor, &["pk", "sk"]) {
            prop_assert!(key.contains_key("pk") && key.contains_key("sk") && key.len() == 2);
        }
    }

    #[test]
    fn cursors_round_trip(pk in ".{0,40}", sk in ".{0,40}") {
        let key: HashMap<String, AttributeValue> = [("pk", pk), ("sk", sk)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), AttributeValue::S(v)))
            .collect();
        let cursor = encode_cursor(&key).expect("a cursor");
        prop_assert_eq!(decode_cursor(&cursor, &["pk", "sk"]), Ok(key));
        prop_assert!(decode_cursor(&cursor, &["pk"]).is_err());
    }

    #[test]
    fn caller_claims_never_panic_and_hospitals_are_machines(
        claims in prop::collection::hash_map(
            prop::sample::select(vec!["sub", "username", "cognito:username", "cognito:groups",
                                      "scope", "token_use", "client_id", "other"]),
            prop_oneof![".{0,20}", Just("[staff]".to_string()), Just("[patients doctors]".to_string()),
                        Just("clinic/ingest".to_string()), Just("access".to_string()),
                        Just("id".to_string())].boxed(),
            0..8,
        ),
    ) {
        let claims: HashMap<String, String> =
            claims.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        if let Ok(caller) = Caller::from_claims(&claims, None, "clinic/ingest") {
            prop_assert!(!caller.id.is_empty());
            prop_assert!(claims.get("token_use").is_none_or(|t| t == "access"));
            if caller.role == clinic_shared::envelope::Role::Hospital {
                prop_assert!(caller.username.is_none());
                prop_assert!(caller.scopes.iter().any(|s| s == "clinic/ingest"));
            }
        }
    }
}

/// A directory that knows one hospital client.
struct OneHospital;

impl HospitalDirectory for OneHospital {
    async fn hospital_for_client(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        Ok((client_id == "hospital-client").then(|| "H1".to_string()))
    }
}

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn authorizer() -> Authorizer<OneHospital> {
    Authorizer::new(
        AuthorizerConfig {
            issuer: ISSUER.into(),
            // Nothing listens there: a token that gets as far as fetching keys fails fast.
            jwks_url: "http://127.0.0.1:9/jwks.json".into(),
            web_client_ids: vec!["web".into()],
            ingest_scope: "clinic/ingest".into(),
            local_secret: Some(SECRET.to_vec()),
        },
        OneHospital,
    )
}

fn event(authorization: &str) -> Value {
    json!({"version": "2.0", "type": "REQUEST", "identitySource": [authorization],
           "headers": {"authorization": authorization}})
}

fn segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.min(128), ..ProptestConfig::default() })]

    #[test]
    fn the_authorizer_refuses_arbitrary_authorization_headers(raw in ".{0,300}") {
        let answer = runtime().block_on(authorizer().handle(event(&raw)));
        // Either a refusal or "cannot decide" (the key set is unreachable): never an allow.
        if let Ok(answer) = answer {
            prop_assert_eq!(answer, json!({"isAuthorized": false}));
        }
    }

    #[test]
    fn the_authorizer_refuses_arbitrary_headers_and_claims(
        header in prop_oneof![
            json_value(),
            object_with(&[("alg", "\"HS256\""), ("kid", "\"clinic-local\""), ("typ", "\"JWT\"")]),
            object_with(&[("alg", "\"none\""), ("kid", "\"clinic-local\"")]),
            object_with(&[("alg", "\"RS256\""), ("kid", "\"dummy\"")]),
        ],
        claims in prop_oneof![
            json_value(),
            object_with(&[("sub", "\"hospital-client\""), ("client_id", "\"hospital-client\""),
                          ("iss", "\"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool\""),
                          ("exp", "4102444800"), ("token_use", "\"access\""), ("scope", "\"clinic/ingest\"")]),
        ],
        signature in "[A-Za-z0-9_-]{0,90}",
    ) {
        let token = format!("{}.{}.{signature}", segment(&header), segment(&claims));
        let answer = runtime().block_on(authorizer().handle(event(&format!("Bearer {token}"))));
        if let Ok(answer) = answer {
            prop_assert_eq!(answer, json!({"isAuthorized": false}));
        }
    }

}

proptest! {
    // Few combinations are valid: many cases (each is fast, no network).
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.max(4096), ..ProptestConfig::default() })]

    #[test]
    fn only_complete_valid_claims_pass_with_the_right_key(
        // Each claim valid, missing, mistyped or off in time (offsets from now, in seconds).
        sub in prop::sample::select(vec![Some(json!("hospital-client")), None, Some(json!(7))]),
        client in prop::sample::select(vec![Some("hospital-client"), Some("web"), Some("other"), None]),
        iss in prop::sample::select(vec![Some(ISSUER), Some("https://cognito-idp.us-east-1.amazonaws.com/x"), None]),
        exp in prop::sample::select(vec![Some(json!(600)), Some(json!(-1)), Some(json!(-3600)), Some(json!("600")), None]),
        nbf in prop::sample::select(vec![None, Some(json!(-10)), Some(json!(3600)), Some(json!("x"))]),
        iat in prop::sample::select(vec![None, Some(json!(-10)), Some(json!(3600))]),
        token_use in prop::sample::select(vec![Some("access"), Some("id"), Some("refresh"), None]),
        scope in prop::sample::select(vec![Some("clinic/ingest"), Some("openid clinic/ingest"), Some("other"), None]),
        username in prop::sample::select(vec![None, None, Some("u1")]),
    ) {
        let now = jiff::Timestamp::now().as_second();
        let at = |offset: &Option<Value>| offset.as_ref().map(|v| match v.as_i64() {
            Some(seconds) => json!(now + seconds),
            None => v.clone(),
        });
        let mut claims = serde_json::Map::new();
        let mut put = |name: &str, value: Option<Value>| {
            if let Some(value) = value {
                claims.insert(name.to_string(), value);
            }
        };
        put("sub", sub.clone());
        put("client_id", client.map(|c| json!(c)));
        put("iss", iss.map(|i| json!(i)));
        put("exp", at(&exp));
        put("nbf", at(&nbf));
        put("iat", at(&iat));
        put("token_use", token_use.map(|t| json!(t)));
        put("scope", scope.map(|s| json!(s)));
        put("username", username.map(|u| json!(u)));
        let claims = Value::Object(claims);
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("clinic-local".into());
        let token = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(SECRET))
            .expect("sign");
        let answer = runtime().block_on(authorizer().handle(event(&format!("Bearer {token}"))));
        let token_ok = sub.as_ref().is_some_and(Value::is_string)
            && iss == Some(ISSUER)
            && exp.as_ref().and_then(Value::as_i64).is_some_and(|e| e > 0)
            && nbf.as_ref().is_none_or(|n| n.as_i64().is_some_and(|n| n <= 0))
            && iat.as_ref().is_none_or(|i| i.as_i64().is_some_and(|i| i <= 0))
            && token_use == Some("access");
        let caller_ok = match client {
            Some("web") => true,
            Some("hospital-client") => {
                username.is_none()
                    && scope.is_some_and(|s| s.split_whitespace().any(|x| x == "clinic/ingest"))
            }
            _ => false,
        };
        let valid = token_ok && caller_ok;
        match answer {
            Ok(answer) if answer["isAuthorized"] == true => {
                prop_assert!(valid, "allowed {}", claims);
            }
            Ok(_) => prop_assert!(!valid, "refused valid claims {}", claims),
            Err(e) => prop_assert!(false, "undecided without any dependency call: {}", e),
        }
    }
}
