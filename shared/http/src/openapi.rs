//! OpenAPI pieces shared by the route groups.

use crate::extract::MAX_BODY_BYTES;
use crate::{ErrorBody, ErrorDetail};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};
use utoipa::{Modify, PartialSchema, ToSchema};

/// Name of the bearer-JWT security scheme used by `security(("bearer" = []))`.
pub const BEARER: &str = "bearer";

/// Adds the bearer-JWT security scheme to a spec.
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".into());
        components.add_security_scheme(BEARER, SecurityScheme::Http(http));
    }
}

/// Adds to every operation the error answers that come from what it is made of rather than
/// from its handler, each with the `ErrorBody` schema, so the handlers' annotations list
/// only their own answers:
///
/// - a JSON request body (`ApiJson`, `OptionalJson`): 400 `malformed_json`, 413
///   `payload_too_large`, 415 `unsupported_media_type`, 422 `invalid_body`;
/// - query parameters (`ApiQuery`): 400 `bad_request`;
/// - path parameters: 404 `not_found`;
/// - the bearer scheme (`AuthUser`): 401 `missing_token`/`invalid_token`/`token_expired`,
///   403 `account_suspended`, and with the `admin` tag (`AdminUser`) 403 `admin_required`
///   and `insufficient_scope` (a management token without the route's scope);
/// - every operation outside the `public` tag reads the store: 503 `service_unavailable`.
///
/// An answer the operation documents itself keeps its description, with the common causes
/// appended. Every 429 gets its `Retry-After` header (`ApiError` always sets it).
pub struct CommonErrors;

/// Tag of the operations that touch no store (`/health`, the spec).
const PUBLIC_TAG: &str = "public";
/// Tag of the operations behind `AdminUser`.
const ADMIN_TAG: &str = "admin";

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.insert(ErrorBody::name().into_owned(), ErrorBody::schema());
        components.schemas.insert(ErrorDetail::name().into_owned(), ErrorDetail::schema());
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                for (status, cause) in common_errors(op) {
                    add_error(op, status, &cause);
                }
                if let Some(RefOr::T(r)) = op.responses.responses.get_mut("429") {
                    r.headers.entry("Retry-After".into()).or_insert_with(retry_after);
                }
            }
        }
    }
}

/// The (status, cause) pairs `op` gets from its kind.
fn common_errors(op: &Operation) -> Vec<(u16, String)> {
    let tagged = |tag: &str| op.tags.iter().flatten().any(|t| t == tag);
    let has_param = |place: ParameterIn| op.parameters.iter().flatten().any(|p| p.parameter_in == place);
    let bearer = SecurityRequirement::new(BEARER, Vec::<String>::new());
    let authenticated = op.security.iter().flatten().any(|s| *s == bearer);
    let json_body = op.request_body.as_ref().is_some_and(|b| b.content.contains_key("application/json"));

    let mut out = Vec::new();
    if json_body {
        out.push((400, "`malformed_json`: the body is not valid JSON".to_string()));
        out.push((413, format!("`payload_too_large`: the body is larger than {MAX_BODY_BYTES} bytes")));
        out.push((415, "`unsupported_media_type`: a body without `Content-Type: application/json`".into()));
        out.push((422, "`invalid_body`: a missing or unknown field, or a value of the wrong type".into()));
    }
    if has_param(ParameterIn::Query) {
        out.push((400, "`bad_request`: a query parameter that cannot be understood".into()));
    }
    if has_param(ParameterIn::Path) {
        out.push((404, "`not_found`: no such resource (or not yours)".into()));
    }
    if authenticated {
        out.push((401, "`missing_token`, `invalid_token`, `token_expired`: no valid access token".into()));
        out.push((403, "`account_suspended`: the account is suspended".into()));
        if tagged(ADMIN_TAG) {
            out.push((403, "`admin_required`: the account is not an admin".into()));
            // `AdminUser` also takes management tokens (`Bearer tgm_...`), each route only
            // with its scope.
            out.push((403, "`insufficient_scope`: a management token without this route's scope".into()));
        }
    }
    if !tagged(PUBLIC_TAG) {
        out.push((503, "`service_unavailable`: the store did not answer; try again shortly".into()));
    }
    out
}

/// Adds `cause` to the `status` answer of `op`, creating it (with `ErrorBody`) if needed.
fn add_error(op: &mut Operation, status: u16, cause: &str) {
    let responses = &mut op.responses.responses;
    match responses.get_mut(&status.to_string()) {
        Some(RefOr::T(existing)) => {
            if !existing.description.contains(cause) {
                existing.description = format!("{}; {cause}", existing.description);
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            responses.insert(status.to_string(), RefOr::T(error_response(cause)));
        }
    }
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name(ErrorBody::name()))).build(),
        )
        .build()
}

fn retry_after() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
        .description(Some("Seconds until a new attempt can succeed"))
        .build()
}

/// Schemas of the request fields the handlers validate, for `#[schema(schema_with = ...)]`:
/// each states the rule the handler applies, so a client (or a fuzzer) can tell a valid value
/// from an invalid one without asking the server.
pub mod fields {
    use crate::views::{COMPANY_MAX, DESCRIPTION_MAX, NAME_MAX};
    use tollgate_domain::email::EMAIL_MAX_LEN;
    use tollgate_domain::{PASSWORD_MAX_LEN, PASSWORD_MIN_LEN};
    use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type};

    /// No control character (Unicode `Cc`), and at least one character that is not white space:
    /// the rule of `views::text_field` (which also trims).
    const TEXT: &str = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$";
    /// No control character; empty (or white space only) clears the field.
    const OPTIONAL_TEXT: &str = r"^[^\x00-\x1F\x7F-\x9F]*$";

    /// A string schema to build on; `nullable` for the optional fields, where `null` is absent.
    pub fn string(nullable: bool) -> ObjectBuilder {
        let ty = if nullable { SchemaType::from_iter([Type::String, Type::Null]) } else { Type::String.into() };
        ObjectBuilder::new().schema_type(ty)
    }

    fn text(max: usize, nullable: bool) -> Object {
        string(nullable)
            .min_length(Some(1))
            .max_length(Some(max))
            .pattern(Some(TEXT))
            .description(Some(format!("1 to {max} characters (trimmed), no control characters")))
            .build()
    }

    fn optional_text(max: usize) -> Object {
        string(true)
            .max_length(Some(max))
            .pattern(Some(OPTIONAL_TEXT))
            .description(Some(format!("Up to {max} characters, no control characters; empty or `null` clears it")))
            .build()
    }

    /// A required name (person, key, plan, endpoint): 1 to 100 characters.
    pub fn name() -> Object {
        text(NAME_MAX, false)
    }

    /// A name in a partial update: absent or `null` keeps the current one.
    pub fn name_update() -> Object {
        text(NAME_MAX, true)
    }

    /// `company_name`: up to 200 characters.
    pub fn company() -> Object {
        optional_text(COMPANY_MAX)
    }

    /// `description` of a plan or endpoint: up to 500 characters.
    pub fn description() -> Object {
        optional_text(DESCRIPTION_MAX)
    }

    /// An email address the handler parses (`Email::parse`).
    pub fn email() -> Object {
        string(false)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
            .max_length(Some(EMAIL_MAX_LEN))
            .examples(["ada@example.com"])
            .build()
    }

    /// A new password under the policy. Only the lengths can be said in JSON Schema; the
    /// character rules are in the description (422 `weak_password`).
    pub fn new_password() -> Object {
        string(false)
            .min_length(Some(PASSWORD_MIN_LEN))
            .max_length(Some(PASSWORD_MAX_LEN))
            .description(Some(
                "10 to 128 characters, with at least one letter and one digit or symbol; not one repeated \
                 character; not containing the local part of the account's email address (422 `weak_password`)",
            ))
            .examples(["correct-horse-42"])
            .build()
    }

    /// The one-time token of a verification or reset mail: 43 letters and digits.
    pub fn mail_token() -> Object {
        string(false)
            .pattern(Some(r"^\s*[A-Za-z0-9]{43}\s*$"))
            .description(Some("From the mail; an unknown, used or expired token is 422 `invalid_field`"))
            .build()
    }

    /// A `from`/`to` bound of a usage query: an RFC 3339 timestamp or a date; empty = absent.
    pub fn time_bound() -> Object {
        string(false)
            .pattern(Some(concat!(
                r"^(\s*|\s*(19[7-9]\d|[2-9]\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])",
                r"([Tt ]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d))?\s*)$"
            )))
            .description(Some(
                "RFC 3339 timestamp (`2026-11-01T00:00:00Z`) or date (`2026-11-01`, midnight UTC), in the years \
                 1970 to 9999 (UTC)",
            ))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, PathItem};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::{HttpMethod, PathsBuilder};

    fn spec_with(path: &str, op: Operation) -> OpenApi {
        let mut api =
            OpenApi::new(Default::default(), PathsBuilder::new().path(path, PathItem::new(HttpMethod::Post, op)));
        CommonErrors.modify(&mut api);
        api
    }

    fn statuses(api: &OpenApi, path: &str) -> Vec<String> {
        api.paths.paths[path].post.as_ref().unwrap().responses.responses.keys().cloned().collect()
    }

    #[test]
    fn adds_errors_by_kind() {
        let admin = OperationBuilder::new()
            .tag(ADMIN_TAG)
            .security(SecurityRequirement::new(BEARER, Vec::<String>::new()))
            .parameter(ParameterBuilder::new().name("id").parameter_in(ParameterIn::Path))
            .request_body(Some(RequestBodyBuilder::new().content("application/json", Default::default()).build()))
            .response("404", ResponseBuilder::new().description("No such plan"))
            .build();
        let api = spec_with("/api/admin/plans/{id}", admin);
        assert_eq!(statuses(&api, "/api/admin/plans/{id}"), ["400", "401", "403", "404", "413", "415", "422", "503"]);
        let op = api.paths.paths["/api/admin/plans/{id}"].post.as_ref().unwrap();
        let RefOr::T(r) = &op.responses.responses["403"] else { panic!("inline") };
        assert!(r.description.contains("account_suspended") && r.description.contains("admin_required"));
        let RefOr::T(r) = &op.responses.responses["404"] else { panic!("inline") };
        assert!(r.description.starts_with("No such plan; "), "kept and extended: {}", r.description);
        assert!(api.components.as_ref().unwrap().schemas.contains_key("ErrorBody"));

        let public = OperationBuilder::new().tag(PUBLIC_TAG).response("200", ResponseBuilder::new()).build();
        assert_eq!(statuses(&spec_with("/health", public), "/health"), ["200"]);
    }

    #[test]
    fn every_429_gets_retry_after() {
        let op = OperationBuilder::new().response("429", ResponseBuilder::new().description("Too many")).build();
        let api = spec_with("/x", op);
        let RefOr::T(r) = &api.paths.paths["/x"].post.as_ref().unwrap().responses.responses["429"] else {
            panic!("inline")
        };
        assert!(r.headers.contains_key("Retry-After"));
    }
}
