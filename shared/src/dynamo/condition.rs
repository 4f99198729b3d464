//! A condition with the attribute names and values it refers to, built once and put on any of
//! the writes it guards (a put, an update, a delete, alone or in a transaction).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::builders::{DeleteBuilder, PutBuilder, UpdateBuilder};

use super::Item;

/// A condition expression and the `#name` and `:value` placeholders it uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    expression: String,
    names: HashMap<String, String>,
    values: Item,
}

impl Condition {
    /// The condition `expression`, its placeholders still to name.
    pub fn new(expression: impl Into<String>) -> Self {
        Self {
            expression: expression.into(),
            names: HashMap::new(),
            values: Item::new(),
        }
    }

    /// `placeholder` (`#…`) stands for the attribute `attribute`.
    #[must_use]
    pub fn name(mut self, placeholder: &str, attribute: &str) -> Self {
        self.names.insert(placeholder.into(), attribute.into());
        self
    }

    /// `placeholder` (`:…`) stands for `value`.
    #[must_use]
    pub fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }
}

/// A write that can carry a [`Condition`].
pub trait Conditional: Sized {
    /// The write, on `condition`; the names and values add to any the write already has.
    #[must_use]
    fn on(self, condition: Condition) -> Self;
}

macro_rules! conditional {
    ($($builder:ty),+) => {$(
        impl Conditional for $builder {
            fn on(self, condition: Condition) -> Self {
                let mut write = self.condition_expression(condition.expression);
                for (placeholder, attribute) in condition.names {
                    write = write.expression_attribute_names(placeholder, attribute);
                }
                for (placeholder, value) in condition.values {
                    write = write.expression_attribute_values(placeholder, value);
                }
                write
            }
        }
    )+};
}

conditional!(
    PutItemFluentBuilder,
    UpdateItemFluentBuilder,
    DeleteItemFluentBuilder,
    PutBuilder,
    UpdateBuilder,
    DeleteBuilder
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::s;

    #[test]
    fn a_condition_adds_to_the_names_and_values_already_there() {
        let update = aws_sdk_dynamodb::types::Update::builder()
            .expression_attribute_names("#a", "a")
            .on(Condition::new("#s = :s")
                .name("#s", "state")
                .value(":s", s("ON")));
        assert_eq!(
            update.get_condition_expression().as_deref(),
            Some("#s = :s")
        );
        let names = update.get_expression_attribute_names().clone();
        assert_eq!(
            names,
            Some(HashMap::from([
                ("#a".to_string(), "a".to_string()),
                ("#s".to_string(), "state".to_string()),
            ]))
        );
        assert_eq!(
            update.get_expression_attribute_values().clone(),
            Some(Item::from([(":s".to_string(), s("ON"))]))
        );
    }
}
