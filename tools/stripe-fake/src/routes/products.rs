//! `/v1/products` and `/v1/prices`.

use axum::extract::{Extension, Path, State};
use axum::Json;
use serde_json::Value;

use super::{respond, AppState, Form};
use crate::clock::{wall_now, Interval};
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;
use crate::objects;
use crate::params::Params;
use crate::state::{find, Origin, Price, Product, Recurring, TransformQuantity, UsageType};

/// `POST /v1/products`
pub async fn create_product(
    State(app): AppState,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&["id", "name", "description", "metadata", "active"])?;
    let name = p.required_str("name")?.to_string();
    let description = p.opt_str("description")?.map(str::to_string);
    let metadata = p.new_metadata("metadata")?;
    let active = p.bool("active")?.unwrap_or(true);
    app.with(|s| {
        // Stripe lets products have ids of your choosing.
        let id = match p.opt_str("id")? {
            Some(id) if s.products.contains_key(id) => {
                return Err(ApiError::invalid_param("id", "Product already exists.").code("resource_already_exists"))
            }
            Some(id) => id.to_string(),
            None => new_id("prod_"),
        };
        let now = wall_now();
        let product = Product { id: id.clone(), created: now, updated: now, name, description, metadata, active };
        let snapshot = objects::product(&product);
        s.products.insert(id, product);
        s.emit("product.created", now, snapshot.clone(), None, &origin);
        respond(s, snapshot, &p)
    })
}

/// `GET /v1/products/{id}`
pub async fn retrieve_product(
    State(app): AppState,
    Path(id): Path<String>,
    Form(query): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&[])?;
    app.with(|s| respond(s, objects::product(find(&s.products, &id, "product", "id")?), &p))
}

/// `POST /v1/products/{id}`
pub async fn update_product(
    State(app): AppState,
    Path(id): Path<String>,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&["name", "description", "metadata", "active"])?;
    app.with(|s| {
        let old = find(&s.products, &id, "product", "id")?.clone();
        let mut product = old.clone();
        if p.has("name") {
            product.name = p.required_str("name")?.to_string();
        }
        if p.has("description") {
            product.description = p.opt_str("description")?.map(str::to_string);
        }
        if let Some(md) = p.metadata("metadata")? {
            md.apply(&mut product.metadata, "metadata")?;
        }
        if let Some(active) = p.bool("active")? {
            product.active = active;
        }
        product.updated = wall_now();
        let (before, after) = (objects::product(&old), objects::product(&product));
        s.products.insert(id, product);
        s.emit_update("product.updated", wall_now(), &before, after.clone(), &origin);
        respond(s, after, &p)
    })
}

fn parse_recurring(r: &Params) -> ApiResult<Recurring> {
    r.allow(&["interval", "interval_count", "usage_type", "meter"])?;
    let interval = r
        .one_of("interval", &["day", "week", "month", "year"])?
        .ok_or_else(|| ApiError::missing_param(&r.name("interval")))?;
    let interval_count = r.u64("interval_count")?.unwrap_or(1);
    if !(1..=365).contains(&interval_count) {
        return Err(ApiError::invalid_param(
            r.name("interval_count"),
            "Invalid interval_count: must be between 1 and 365",
        ));
    }
    let usage_type = match r.one_of("usage_type", &["licensed", "metered"])? {
        Some("metered") => UsageType::Metered,
        _ => UsageType::Licensed,
    };
    let meter = r.opt_str("meter")?.map(str::to_string);
    match (usage_type, &meter) {
        // Since API version 2025-03-31 metered prices are backed by a billing meter.
        (UsageType::Metered, None) => Err(ApiError::missing_param(&r.name("meter"))),
        (UsageType::Licensed, Some(_)) => Err(ApiError::invalid_param(
            r.name("meter"),
            "A meter can only be set on prices with `recurring[usage_type]=metered`.",
        )),
        _ => Ok(Recurring {
            interval: Interval::parse(interval).unwrap_or(Interval::Month),
            interval_count: interval_count as u32,
            usage_type,
            meter,
        }),
    }
}

fn parse_transform(t: &Params) -> ApiResult<TransformQuantity> {
    t.allow(&["divide_by", "round"])?;
    let divide_by = t.i64("divide_by")?.ok_or_else(|| ApiError::missing_param(&t.name("divide_by")))?;
    if divide_by < 1 {
        return Err(ApiError::invalid_param(t.name("divide_by"), "divide_by must be at least 1."));
    }
    let round = t.one_of("round", &["down", "up"])?.ok_or_else(|| ApiError::missing_param(&t.name("round")))?;
    Ok(TransformQuantity { divide_by, round_up: round == "up" })
}

/// `POST /v1/prices`
pub async fn create_price(
    State(app): AppState,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&[
        "product",
        "currency",
        "unit_amount",
        "unit_amount_decimal",
        "nickname",
        "metadata",
        "active",
        "lookup_key",
        "recurring",
        "transform_quantity",
        "billing_scheme",
        "tax_behavior",
    ])?;
    let product = p.required_str("product")?.to_string();
    let currency = p.required_str("currency")?.to_lowercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(ApiError::invalid_param("currency", format!("Invalid currency: {currency}")));
    }
    if p.one_of("billing_scheme", &["per_unit", "tiered"])? == Some("tiered") {
        return Err(ApiError::invalid_param("billing_scheme", "Tiered prices are not supported by the Stripe fake."));
    }
    let unit_amount = match (p.i64("unit_amount")?, p.opt_str("unit_amount_decimal")?) {
        (Some(a), _) => a,
        (None, Some(d)) => d.parse::<f64>().ok().filter(|d| d.fract() == 0.0).map(|d| d as i64).ok_or_else(|| {
            ApiError::invalid_param("unit_amount_decimal", "The Stripe fake supports whole minor units only.")
        })?,
        (None, None) => return Err(ApiError::missing_param("unit_amount")),
    };
    if unit_amount < 0 {
        return Err(ApiError::invalid_param("unit_amount", "Invalid unit_amount: must be greater than or equal to 0"));
    }
    let recurring = p.child("recurring")?.map(|r| parse_recurring(&r)).transpose()?;
    let transform_quantity = p.child("transform_quantity")?.map(|t| parse_transform(&t)).transpose()?;
    let nickname = p.opt_str("nickname")?.map(str::to_string);
    let lookup_key = p.opt_str("lookup_key")?.map(str::to_string);
    let metadata = p.new_metadata("metadata")?;
    let active = p.bool("active")?.unwrap_or(true);
    app.with(|s| {
        find(&s.products, &product, "product", "product")?;
        if let Some(meter) = recurring.as_ref().and_then(|r| r.meter.as_deref()) {
            find(&s.meters, meter, "billing.meter", "recurring[meter]")?;
        }
        let now = wall_now();
        let price = Price {
            id: new_id("price_"),
            created: now,
            product,
            currency,
            unit_amount,
            nickname,
            lookup_key,
            metadata,
            active,
            recurring,
            transform_quantity,
        };
        let snapshot = objects::price(&price);
        s.prices.insert(price.id.clone(), price);
        s.emit("price.created", now, snapshot.clone(), None, &origin);
        respond(s, snapshot, &p)
    })
}

/// `GET /v1/prices/{id}`
pub async fn retrieve_price(State(app): AppState, Path(id): Path<String>, Form(query): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&[])?;
    app.with(|s| respond(s, objects::price(find(&s.prices, &id, "price", "id")?), &p))
}

/// `POST /v1/prices/{id}`
pub async fn update_price(
    State(app): AppState,
    Path(id): Path<String>,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&["active", "metadata", "nickname", "lookup_key"])?;
    app.with(|s| {
        let old = find(&s.prices, &id, "price", "id")?.clone();
        let mut price = old.clone();
        if let Some(active) = p.bool("active")? {
            price.active = active;
        }
        if let Some(md) = p.metadata("metadata")? {
            md.apply(&mut price.metadata, "metadata")?;
        }
        if p.has("nickname") {
            price.nickname = p.opt_str("nickname")?.map(str::to_string);
        }
        if p.has("lookup_key") {
            price.lookup_key = p.opt_str("lookup_key")?.map(str::to_string);
        }
        let (before, after) = (objects::price(&old), objects::price(&price));
        s.prices.insert(id, price);
        s.emit_update("price.updated", wall_now(), &before, after.clone(), &origin);
        respond(s, after, &p)
    })
}
