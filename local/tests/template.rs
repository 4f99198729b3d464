//! Reading templates without the emulator: the real `template.yaml`, intrinsic functions,
//! SAM globals, and the error messages for broken input (each naming the place to fix).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clinic_local::template::{
    ResolveSettings, Resolver, ResourceKind, ResourceValues, Template, TemplateError,
};
use serde_json::{Value, json};

fn manifest_path(relative: &str) -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join(relative)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l == needle)
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in the text"))
}

#[test]
fn reads_the_real_template() {
    let template = Template::load(manifest_path("../template.yaml")).expect("template.yaml parses");
    let function = template
        .resource("AccountsApiFunction")
        .expect("the accounts API function");
    assert_eq!(function.kind, ResourceKind::Function);
    // Globals are merged in: the global variable and timeout, and the function's own variables.
    let variables = &function.properties["Environment"]["Variables"];
    assert_eq!(variables["RUST_LOG"], json!("info"));
    assert_eq!(variables["TABLE_NAME"], json!({"Ref": "AccountsTable"}));
    assert_eq!(function.properties["Timeout"], json!(5));
    let outbox = template.resource("AccountsOutboxFunction").expect("outbox");
    assert_eq!(outbox.properties["Timeout"], json!(30));
    assert!(outbox.dependencies.contains("AccountsOutboxFailureQueue"));

    let order: Vec<&str> = template
        .resources_in_dependency_order()
        .map(|r| r.logical_id.as_str())
        .collect();
    let position = |id: &str| order.iter().position(|o| *o == id).expect(id);
    assert!(position("UserPool") < position("PatientsGroup"));
    assert!(position("UserPoolWebClient") < position("HttpApi"));
    assert!(position("AccountsTable") < position("AccountsApiFunction"));
    assert!(position("HttpApi") < position("AccountsApiFunction"));
    assert!(position("AccountsOutboxFailureQueue") < position("AccountsOutboxFunction"));
    assert!(position("AccountsOutboxFunction") < position("AccountsOutboxFunctionLogGroup"));
    assert_eq!(order.len(), template.resources().len());
}

#[test]
fn broken_yaml_reports_line_and_column() {
    let text = "Resources:\n  Table:\n    Type: [AWS::DynamoDB::Table\n  Other: x\n";
    let error = Template::parse(text, "template.yaml").expect_err("broken YAML");
    assert!(matches!(error, TemplateError::Yaml { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.starts_with("template.yaml:4:"), "{message}");
    assert!(message.contains("invalid YAML"), "{message}");
}

#[test]
fn unsupported_resource_names_the_resource_and_its_line() {
    let path = manifest_path("tests/fixtures/unsupported.yaml");
    let text = std::fs::read_to_string(&path).expect("fixture");
    let line = line_of(&text, "  ReportsCluster:");
    assert_eq!(line, 18);
    let error = Template::load(&path).expect_err("RDS is not emulated");
    let message = error.to_string();
    assert!(
        message.ends_with(&format!(
            "unsupported.yaml:{line}: resource ReportsCluster has type AWS::RDS::DBCluster, which the local runner cannot emulate"
        )),
        "{message}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let error = Template::load("/nonexistent/template.yaml").expect_err("no file");
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/template.yaml: cannot read"),
        "{error}"
    );
}

#[test]
fn ref_to_unknown_name_is_reported() {
    let text = "\
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Group:
    Type: AWS::Cognito::UserPoolGroup
    Properties:
      UserPoolId: !Ref Missing
";
    let error = Template::parse(text, "t.yaml").expect_err("unknown ref");
    let message = error.to_string();
    assert!(
        message.starts_with("t.yaml:4: resource Group refers to Missing (Ref)"),
        "{message}"
    );
}

#[test]
fn unknown_attribute_and_sub_variable_are_reported() {
    let text = "\
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !GetAtt Queue.StreamArn
";
    let message = Template::parse(text, "t.yaml")
        .expect_err("bad attribute")
        .to_string();
    assert!(
        message.contains("attribute StreamArn of Queue"),
        "{message}"
    );
    assert!(message.contains("Arn, QueueName, QueueUrl"), "{message}");

    let text = "\
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub ${AWS::StackName}-${Nowhere}
";
    let message = Template::parse(text, "t.yaml")
        .expect_err("bad variable")
        .to_string();
    assert!(message.contains("refers to Nowhere (Fn::Sub)"), "{message}");
}

#[test]
fn unknown_tags_and_dependency_cycles_are_reported() {
    let text = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !Nope x\n";
    let message = Template::parse(text, "t.yaml")
        .expect_err("tag")
        .to_string();
    assert!(
        message.starts_with("t.yaml:5: unknown tag !Nope"),
        "{message}"
    );

    let text = "\
Resources:
  A:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !GetAtt B.TopicName
  B:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !GetAtt A.TopicName
";
    let message = Template::parse(text, "t.yaml")
        .expect_err("cycle")
        .to_string();
    assert!(message.contains("cycle: A, B"), "{message}");
}

const INTRINSICS: &str = r#"
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  Zones:
    Type: CommaDelimitedList
    Default: "a, b,c"
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Resources:
  Table:
    Type: AWS::DynamoDB::Table
  Extra:
    Type: AWS::SQS::Queue
    Condition: IsProd
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      Plain: !Sub "${AWS::StackName}-${Stage}-${AWS::Region}-${AWS::AccountId}"
      WithMap: !Sub ["${Name}/index/${!Literal}", {Name: !GetAtt Table.Arn}]
      Attribute: !Sub "${Table.StreamArn}"
      Chosen: !If [IsProd, big, small]
      Dropped: !If [IsProd, x, !Ref AWS::NoValue]
      List: [1, !Ref AWS::NoValue, 2]
      Selected: !Select [1, !Ref Zones]
      Split: !Split ["/", "a/b/c"]
      SelectedSplit: !Select ["2", !Split [",", "x,y,z"]]
"#;

fn resolve_topic(overrides: &[(&str, &str)]) -> Result<Value, TemplateError> {
    let template = Template::parse(INTRINSICS, "t.yaml")?;
    let settings = ResolveSettings {
        stack_name: "s1".into(),
        parameter_overrides: overrides
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect::<BTreeMap<_, _>>(),
    };
    let mut resolver = Resolver::new(&template, &settings)?;
    resolver.set_resource(
        "Table",
        ResourceValues::new("s1-Table")
            .with(
                "Arn",
                "arn:aws:dynamodb:us-east-1:123456789012:table/s1-Table",
            )
            .with("StreamArn", "arn:stream"),
    );
    let topic = template.resource("Topic").expect("topic");
    resolver.resolve_properties(topic)
}

#[test]
fn resolves_the_intrinsic_functions_the_runner_emulates() {
    let value = resolve_topic(&[]).expect("resolves");
    assert_eq!(
        value,
        json!({
            "Plain": "s1-dev-us-east-1-123456789012",
            "WithMap": "arn:aws:dynamodb:us-east-1:123456789012:table/s1-Table/index/${Literal}",
            "Attribute": "arn:stream",
            "Chosen": "small",
            "List": [1, 2],
            "Selected": "b",
            "Split": ["a", "b", "c"],
            "SelectedSplit": "z",
        })
    );
}

#[test]
fn other_intrinsic_functions_are_refused_by_name_and_line() {
    for (value, function) in [
        (r#"!Join [",", [a, b]]"#, "Fn::Join"),
        ("!FindInMap [Sizes, dev, Memory]", "Fn::FindInMap"),
        ("!Base64 hi", "Fn::Base64"),
        (r#"!GetAZs """#, "Fn::GetAZs"),
        ("!ImportValue Shared", "Fn::ImportValue"),
    ] {
        let text = format!(
            "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      DisplayName: {value}\n"
        );
        let template = Template::parse(&text, "t.yaml").expect("parses");
        let resolver = Resolver::new(&template, &ResolveSettings::default()).expect("resolver");
        let error = resolver
            .resolve_properties(template.resource("Topic").expect("topic"))
            .expect_err(function);
        assert_eq!(
            error.to_string(),
            format!(
                "t.yaml:2: resource Topic: {function}: this intrinsic function is not supported by the local runner"
            )
        );
    }
    for (body, function) in [
        ("!Not [!Equals [a, b]]", "Fn::Not"),
        ("!And [!Equals [a, a], !Equals [b, b]]", "Fn::And"),
        ("!Or [!Equals [a, a], !Equals [b, b]]", "Fn::Or"),
        ("!Condition IsA", "Condition"),
    ] {
        let text = format!(
            "Conditions:\n  IsA: !Equals [a, a]\n  Other: {body}\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
        );
        let template = Template::parse(&text, "t.yaml").expect("parses");
        let error = Resolver::new(&template, &ResolveSettings::default()).expect_err(function);
        assert_eq!(
            error.to_string(),
            format!(
                "t.yaml:3: condition Other: {function}: this intrinsic function is not supported by the local runner"
            )
        );
    }
}

#[test]
fn parameter_overrides_and_conditions() {
    let template = Template::parse(INTRINSICS, "t.yaml").expect("parses");
    let settings = ResolveSettings {
        stack_name: "s1".into(),
        parameter_overrides: [("Stage".to_string(), "prod".to_string())].into(),
    };
    let resolver = Resolver::new(&template, &settings).expect("resolver");
    assert_eq!(resolver.condition("IsProd"), Some(true));
    assert!(resolver.is_enabled(template.resource("Extra").expect("extra")));

    // A reference to a resource that is not created under the conditions is explained.
    let default = Resolver::new(&template, &ResolveSettings::default()).expect("resolver");
    assert!(!default.is_enabled(template.resource("Extra").expect("extra")));
    let location = template.resource_location("Topic");
    let error = default
        .resolve("resource Topic", &location, &json!({"Ref": "Extra"}))
        .expect_err("not created");
    assert!(
        error.to_string().contains("condition IsProd is false"),
        "{error}"
    );

    let error = resolve_topic(&[("Stage", "qa")]).expect_err("not allowed");
    assert!(error.to_string().contains("AllowedValues"), "{error}");
    let error = resolve_topic(&[("Nope", "x")]).expect_err("unknown parameter");
    assert!(error.to_string().contains("parameter Nope"), "{error}");
}
