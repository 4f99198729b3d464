//! What `Ref` and `Fn::GetAtt` give: pseudo parameters, parameter values, and the values
//! provisioning recorded for a resource — or why a resource has none here.

use serde_json::Value;

use super::{ACCOUNT_ID, Ctx, PARTITION, REGION, Resolver, ResourceValues, URL_SUFFIX};
use crate::template::errors::TemplateError;

impl Resolver<'_> {
    /// `Ref name`: pseudo parameter, parameter or resource.
    pub(super) fn reference(
        &self,
        name: &str,
        via: &'static str,
        ctx: Ctx<'_>,
    ) -> Result<Option<Value>, TemplateError> {
        let text = |s: &str| Ok(Some(Value::String(s.to_string())));
        match name {
            "AWS::Region" => return text(REGION),
            "AWS::AccountId" => return text(ACCOUNT_ID),
            "AWS::Partition" => return text(PARTITION),
            "AWS::URLSuffix" => return text(URL_SUFFIX),
            "AWS::StackName" => return text(&self.stack_name),
            "AWS::StackId" => {
                return text(&format!(
                    "arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{}/00000000-0000-0000-0000-000000000000",
                    self.stack_name
                ));
            }
            "AWS::NotificationARNs" => return Ok(Some(Value::Array(Vec::new()))),
            "AWS::NoValue" => return Ok(None),
            _ => {}
        }
        if let Some(value) = self.parameters.get(name) {
            return Ok(Some(value.clone()));
        }
        let values = self.provisioned(name, via, ctx)?;
        Ok(Some(Value::String(values.reference.clone())))
    }

    /// `Fn::GetAtt resource.attribute`.
    pub(super) fn attribute(
        &self,
        resource: &str,
        attribute: &str,
        via: &'static str,
        ctx: Ctx<'_>,
    ) -> Result<String, TemplateError> {
        if let Some(target) = self.template.resource(resource) {
            let known = target.kind.attributes(&target.type_name);
            if !known.contains(&attribute) {
                return Err(TemplateError::UnknownAttribute {
                    location: ctx.location.clone(),
                    owner: ctx.owner.to_string(),
                    target: resource.to_string(),
                    type_name: target.type_name.clone(),
                    attribute: attribute.to_string(),
                    known: if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    },
                });
            }
        }
        let values = self.provisioned(resource, via, ctx)?;
        values.attributes.get(attribute).cloned().ok_or_else(|| {
            TemplateError::Unresolvable {
                location: ctx.location.clone(),
                owner: ctx.owner.to_string(),
                message: format!(
                    "attribute {attribute} of {resource} has no value in this stack (e.g. a table without a stream has no StreamArn)"
                ),
            }
        })
    }

    /// What provisioning recorded for resource `name`, or why there is nothing.
    fn provisioned(
        &self,
        name: &str,
        via: &'static str,
        ctx: Ctx<'_>,
    ) -> Result<&ResourceValues, TemplateError> {
        let Some(resource) = self.template.resource(name) else {
            return Err(TemplateError::UnknownReference {
                location: ctx.location.clone(),
                owner: ctx.owner.to_string(),
                target: name.to_string(),
                via,
            });
        };
        if !self.is_enabled(resource) {
            return Err(TemplateError::Unresolvable {
                location: ctx.location.clone(),
                owner: ctx.owner.to_string(),
                message: format!(
                    "refers to {name}, which is not created here (its condition {} is false)",
                    resource.condition.as_deref().unwrap_or_default()
                ),
            });
        }
        self.resources
            .get(name)
            .ok_or_else(|| TemplateError::Unresolvable {
                location: ctx.location.clone(),
                owner: ctx.owner.to_string(),
                message: format!("refers to {name}, which has not been provisioned yet"),
            })
    }
}
