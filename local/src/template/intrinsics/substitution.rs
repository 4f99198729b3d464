//! `Fn::Sub`: each `${...}` of the string replaced by a variable of its own map, a resource's
//! attribute (`${Resource.Attribute}`), or what `Ref` of the name gives.

use serde_json::Value;

use super::{Ctx, Resolver, scalar_string};
use crate::template::errors::TemplateError;
use crate::template::sub::{self, Part};

impl Resolver<'_> {
    pub(super) fn sub(
        &self,
        arg: &Value,
        ctx: Ctx<'_>,
        fail: &dyn Fn(String) -> TemplateError,
    ) -> Result<String, TemplateError> {
        let (text, variables) = match arg {
            Value::String(text) => (text, None),
            Value::Array(items) => match items.as_slice() {
                [Value::String(text), Value::Object(variables)] => (text, Some(variables)),
                _ => {
                    return Err(fail(format!(
                        "takes a string or [string, {{variables}}], found {arg}"
                    )));
                }
            },
            other => {
                return Err(fail(format!(
                    "takes a string or [string, {{variables}}], found {other}"
                )));
            }
        };
        let mut out = String::new();
        for part in sub::parse(text).map_err(fail)? {
            match part {
                Part::Text(t) => out.push_str(&t),
                Part::Var(name) => {
                    if let Some(value) = variables.and_then(|v| v.get(&name)) {
                        out.push_str(&self.eval_string(value, ctx, fail)?);
                    } else if let Some((resource, attribute)) = name.split_once('.') {
                        out.push_str(&self.attribute(resource, attribute, "Fn::Sub", ctx)?);
                    } else {
                        match self.reference(&name, "Fn::Sub", ctx)? {
                            Some(v) => out.push_str(&scalar_string(&v).ok_or_else(|| {
                                fail(format!("${{{name}}} is a list, not a string"))
                            })?),
                            None => return Err(fail(format!("${{{name}}} has no value"))),
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}
