//! One list of a service's routes, two routers from it: the OpenAPI one (the spec: tests, the
//! portal's types) and the one the function serves, which skips building each route's OpenAPI
//! operation — schemas, examples, descriptions — at every cold start for a document a Lambda
//! never serves (README, "Performance").

use axum::Router;
use axum::handler::Handler;
use axum::routing::MethodRouter;
use utoipa_axum::PathItemExt as _;

/// Adds `handler` at the path and methods of its `#[utoipa::path]` (`P`, the `__path_<handler>`
/// type the attribute generates) without building its operation.
pub fn serve<P, H, T, S>(router: Router<S>, handler: H) -> Router<S>
where
    P: utoipa::Path,
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    let methods = P::methods()
        .iter()
        .fold(MethodRouter::new(), |methods, method| {
            methods.on(method.to_method_filter(), handler.clone())
        });
    router.route(&P::path(), methods)
}

/// Declares `api()` (the OpenAPI router over `$doc`, one `routes!` per group: handlers of one
/// path go in one group) and `served()` (the same handlers, without OpenAPI), for `$state`.
#[macro_export]
macro_rules! api_routes {
    ($doc:ty, $state:ty; $( [ $($handler:ident),+ $(,)? ] ),+ $(,)?) => {
        /// Every route with its OpenAPI operation.
        fn api() -> ::utoipa_axum::router::OpenApiRouter<$state> {
            ::utoipa_axum::router::OpenApiRouter::with_openapi(<$doc as ::utoipa::OpenApi>::openapi())
                $( .routes(::utoipa_axum::routes!($($handler),+)) )+
        }

        /// Every route, as the function serves it.
        fn served() -> ::axum::Router<$state> {
            let router = ::axum::Router::new();
            $($(
                let router = ::utoipa_axum::paste! {
                    $crate::http::routes::serve::<[<__path_ $handler>], _, _, _>(router, $handler)
                };
            )+)+
            router
        }
    };
}
