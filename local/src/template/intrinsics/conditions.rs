//! Conditions: each evaluated once, when the resolver is made, to true or false (`Fn::Equals`
//! compares two values); `Fn::If` and a resource's `Condition` then read the result by name.

use serde_json::Value;

use super::{Ctx, Resolver, scalar_string};
use crate::template::errors::TemplateError;

impl Resolver<'_> {
    /// Evaluates every condition of the template. File order is enough: a condition can only
    /// use parameters, never another condition.
    pub(super) fn evaluate_conditions(&mut self) -> Result<(), TemplateError> {
        let template = self.template;
        for (name, body) in template.condition_definitions() {
            let location = template.location(&["Conditions", name]);
            let owner = format!("condition {name}");
            let value = self.eval_condition(
                body,
                Ctx {
                    owner: &owner,
                    location: &location,
                },
            )?;
            self.conditions.insert(name.clone(), value);
        }
        Ok(())
    }

    /// `Fn::Equals [a, b]`: whether both resolve to the same value, scalars compared as strings.
    pub(super) fn equals(
        &self,
        arg: &Value,
        ctx: Ctx<'_>,
        fail: &dyn Fn(String) -> TemplateError,
    ) -> Result<bool, TemplateError> {
        let Value::Array(items) = arg else {
            return Err(fail(format!("takes a list, found {arg}")));
        };
        let [a, b] = items.as_slice() else {
            return Err(fail("takes two values".into()));
        };
        let a = self.eval(a, ctx)?;
        let b = self.eval(b, ctx)?;
        let normal = |v: Option<Value>| v.map(|v| scalar_string(&v).map_or(v, Value::String));
        Ok(normal(a) == normal(b))
    }

    pub(super) fn named_condition(&self, name: &str, ctx: Ctx<'_>) -> Result<bool, TemplateError> {
        self.conditions
            .get(name)
            .copied()
            .ok_or_else(|| TemplateError::Condition {
                location: ctx.location.clone(),
                name: name.to_string(),
                message: format!(
                    "{} uses it, but the template's Conditions do not define it",
                    ctx.owner
                ),
            })
    }

    /// Evaluates a condition expression.
    fn eval_condition(&self, value: &Value, ctx: Ctx<'_>) -> Result<bool, TemplateError> {
        match self.eval(value, ctx)? {
            Some(Value::Bool(b)) => Ok(b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            other => Err(TemplateError::Intrinsic {
                location: ctx.location.clone(),
                owner: ctx.owner.to_string(),
                function: "condition".to_string(),
                message: format!("expected true or false, found {other:?}"),
            }),
        }
    }
}
