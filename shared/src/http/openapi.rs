//! What every service's OpenAPI document shares: the `bearer` security scheme, the problem schema,
//! and the problem responses most routes can answer, written once so that a route's annotation
//! lists only what is particular to it.

use std::collections::BTreeMap;

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr};
use utoipa::{Modify, PartialSchema, ToSchema};

use crate::problem::Problem;

/// Declares the `bearer` security scheme every service's routes refer to
/// (`security(("bearer" = []))`).
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Registers the `Problem` schema the shared responses below refer to: a route that documents
/// its errors only with them would otherwise leave the reference dangling.
pub struct ProblemSchema;

impl Modify for ProblemSchema {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .insert(Problem::name().into_owned(), Problem::schema());
    }
}

/// One `application/problem+json` response referring to the `Problem` schema: what a service
/// returns from its own `IntoResponses` types for problems particular to it.
pub fn problem_response(status: u16, description: &str) -> BTreeMap<String, RefOr<Response>> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(Problem::name())))
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", content)
        .build();
    BTreeMap::from([(status.to_string(), RefOr::T(response))])
}

/// Declares a unit type per shared problem response, usable in `responses(...)` of
/// `#[utoipa::path]` beside the route's own tuples.
macro_rules! problem_responses {
    ($($(#[$doc:meta])* $name:ident = $status:literal, $description:literal;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                problem_response($status, $description)
            }
        }
    )*};
}

problem_responses! {
    /// 400: the request's fields, query or body are invalid (`errors` names the fields).
    BadRequest = 400, "Invalid input; `errors` names the fields";
    /// 401: no valid token.
    Unauthorized = 401, "No valid token";
    /// 403: the caller's role does not allow the operation.
    Forbidden = 403, "The caller's role does not allow this";
    /// 404: no such resource, or not the caller's (the two are not told apart).
    NotFound = 404, "No such resource, or not the caller's";
    /// 429: too many attempts; `Retry-After` says when to try again.
    TooManyRequests = 429, "Too many attempts";
    /// 503: a dependency is unavailable; the request can be retried.
    Unavailable = 503, "A dependency is unavailable; retry";
}

#[cfg(test)]
mod tests {
    use utoipa::IntoResponses;

    use super::*;

    #[test]
    fn a_shared_response_is_problem_json_referring_to_the_problem_schema() {
        let responses = NotFound::responses();
        let Some(RefOr::T(response)) = responses.get("404") else {
            panic!("no inline 404 response among {:?}", responses.keys());
        };
        let json = serde_json::to_value(response).unwrap_or_default();
        assert_eq!(
            json["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        assert_eq!(json["description"], "No such resource, or not the caller's");
    }

    #[test]
    fn the_problem_schema_modifier_registers_the_schema() {
        let mut openapi = OpenApi::default();
        ProblemSchema.modify(&mut openapi);
        let schemas = openapi.components.map(|c| c.schemas).unwrap_or_default();
        assert!(schemas.contains_key("Problem"), "{:?}", schemas.keys());
    }
}
