//! Dependency order: the order resources are created in, each after everything it refers to
//! or names in `DependsOn`.

use std::collections::BTreeMap;

use super::Template;
use super::errors::TemplateError;

impl Template {
    /// Kahn's algorithm, taking the earliest resource in file order whenever several are ready.
    pub(super) fn dependency_order(&self) -> Result<Vec<usize>, TemplateError> {
        let index: BTreeMap<&str, usize> = self
            .resources
            .iter()
            .enumerate()
            .map(|(i, r)| (r.logical_id.as_str(), i))
            .collect();
        let mut placed = vec![false; self.resources.len()];
        let mut order = Vec::with_capacity(self.resources.len());
        while order.len() < self.resources.len() {
            let next = self.resources.iter().enumerate().position(|(i, r)| {
                !placed[i]
                    && r.dependencies
                        .iter()
                        .all(|d| index.get(d.as_str()).is_some_and(|&j| placed[j]))
            });
            let Some(next) = next else {
                let stuck: Vec<&str> = self
                    .resources
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !placed[*i])
                    .map(|(_, r)| r.logical_id.as_str())
                    .collect();
                let first = stuck.first().copied().unwrap_or_default();
                return Err(TemplateError::DependencyCycle {
                    location: self.resource_location(first),
                    cycle: stuck.join(", "),
                });
            };
            placed[next] = true;
            order.push(next);
        }
        Ok(order)
    }
}
