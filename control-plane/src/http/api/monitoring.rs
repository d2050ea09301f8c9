//! Monitoring endpoints: a cluster's consumer groups with lag verdicts and its metric
//! series; alerts; alert rules (platform defaults and tenant overrides).

use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;
use tideway_api::{
    monitoring::{
        Alert, AlertRule, AlertWebhook, ClusterMetrics, ConsumerGroup, PrometheusTargetGroup,
        RangeQuery, SetAlertRule, SetAlertWebhook,
    },
    ClusterId, TenantId,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::ProblemResponse;
use crate::{
    auth::Caller,
    error::{ApiJson, ApiPath, ApiQuery, ApiResult},
    monitoring::{consumer_groups, fleet, series},
    service::alerting,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_consumer_groups))
        .routes(routes!(cluster_metrics))
        .routes(routes!(list_alerts))
        .routes(routes!(list_alert_rules))
        .routes(routes!(set_alert_rule))
        .routes(routes!(list_tenant_alert_rules))
        .routes(routes!(set_tenant_alert_rule, reset_tenant_alert_rule))
        .routes(routes!(prometheus_targets))
        .routes(routes!(
            get_tenant_alert_webhook,
            set_tenant_alert_webhook,
            delete_tenant_alert_webhook
        ))
}

/// The tenant's own alert webhook (never its secret).
#[utoipa::path(get, path = "/tenants/{id}/alert-webhook", tag = "monitoring", security(("bearer" = [])),
    params(("id" = TenantId, Path)),
    responses((status = 200, body = AlertWebhook), (status = "default", response = ProblemResponse)))]
async fn get_tenant_alert_webhook(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<Json<AlertWebhook>> {
    Ok(Json(alerting::webhook_of(&s, &caller, id).await?))
}

/// Send the tenant's alerts to its own webhook too (tenant admin); signed when a secret
/// is given.
#[utoipa::path(put, path = "/tenants/{id}/alert-webhook", tag = "monitoring", security(("bearer" = [])),
    params(("id" = TenantId, Path)), request_body = SetAlertWebhook,
    responses((status = 200, body = AlertWebhook), (status = "default", response = ProblemResponse)))]
async fn set_tenant_alert_webhook(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TenantId>,
    ApiJson(body): ApiJson<SetAlertWebhook>,
) -> ApiResult<Json<AlertWebhook>> {
    Ok(Json(alerting::set_webhook(&s, &caller, id, body).await?))
}

/// Stop sending the tenant's alerts to its webhook (tenant admin).
#[utoipa::path(delete, path = "/tenants/{id}/alert-webhook", tag = "monitoring", security(("bearer" = [])),
    params(("id" = TenantId, Path)),
    responses((status = 204, description = "Removed"), (status = "default", response = ProblemResponse)))]
async fn delete_tenant_alert_webhook(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<StatusCode> {
    alerting::delete_webhook(&s, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every broker's metrics endpoint in Prometheus' HTTP service discovery format
/// (`http_sd_configs` with a bearer token of a platform admin).
#[utoipa::path(get, path = "/prometheus/targets", tag = "monitoring", security(("bearer" = [])),
    responses((status = 200, body = Vec<PrometheusTargetGroup>), (status = "default", response = ProblemResponse)))]
async fn prometheus_targets(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<PrometheusTargetGroup>>> {
    Ok(Json(fleet::prometheus_targets(&s, &caller).await?))
}

/// Consumer groups with a Burrow-style verdict over the lag window, lag per partition in
/// records and in time, and when the lag will be cleared at current rates.
#[utoipa::path(get, path = "/clusters/{id}/consumer-groups", tag = "monitoring", security(("bearer" = [])),
    params(("id" = ClusterId, Path)),
    responses((status = 200, body = Vec<ConsumerGroup>), (status = "default", response = ProblemResponse)))]
async fn list_consumer_groups(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ClusterId>,
) -> ApiResult<Json<Vec<ConsumerGroup>>> {
    Ok(Json(consumer_groups::list(&s, &caller, id).await?))
}

/// Byte and message rates, disk use, healthy brokers and consumer-group lag over a range.
#[utoipa::path(get, path = "/clusters/{id}/metrics", tag = "monitoring", security(("bearer" = [])),
    params(("id" = ClusterId, Path), RangeQuery),
    responses((status = 200, body = ClusterMetrics), (status = "default", response = ProblemResponse)))]
async fn cluster_metrics(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ClusterId>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<ClusterMetrics>> {
    Ok(Json(series::of(&s, &caller, id, q.range.as_deref()).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AlertsQuery {
    /// At most this many (default 100, at most 500).
    limit: Option<i64>,
}

/// The newest alerts the caller may see, firing ones first.
#[utoipa::path(get, path = "/alerts", tag = "monitoring", security(("bearer" = [])), params(AlertsQuery),
    responses((status = 200, body = Vec<Alert>), (status = "default", response = ProblemResponse)))]
async fn list_alerts(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AlertsQuery>,
) -> ApiResult<Json<Vec<Alert>>> {
    Ok(Json(
        alerting::recent(&s, &caller, q.limit.unwrap_or(100)).await?,
    ))
}

/// The alert rules with the platform defaults.
#[utoipa::path(get, path = "/alert-rules", tag = "monitoring", security(("bearer" = [])),
    responses((status = 200, body = Vec<AlertRule>), (status = "default", response = ProblemResponse)))]
async fn list_alert_rules(
    State(s): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Vec<AlertRule>>> {
    Ok(Json(alerting::defaults(&s).await?))
}

/// Set a rule's platform default (platform admin).
#[utoipa::path(put, path = "/alert-rules/{rule}", tag = "monitoring", security(("bearer" = [])),
    params(("rule" = String, Path)), request_body = SetAlertRule,
    responses((status = 200, body = AlertRule), (status = "default", response = ProblemResponse)))]
async fn set_alert_rule(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(rule): ApiPath<String>,
    ApiJson(body): ApiJson<SetAlertRule>,
) -> ApiResult<Json<AlertRule>> {
    Ok(Json(alerting::set(&s, &caller, None, &rule, body).await?))
}

/// The rules as they apply to a tenant's clusters (its overrides, else the defaults).
#[utoipa::path(get, path = "/tenants/{id}/alert-rules", tag = "monitoring", security(("bearer" = [])),
    params(("id" = TenantId, Path)),
    responses((status = 200, body = Vec<AlertRule>), (status = "default", response = ProblemResponse)))]
async fn list_tenant_alert_rules(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TenantId>,
) -> ApiResult<Json<Vec<AlertRule>>> {
    Ok(Json(alerting::of_tenant(&s, &caller, id).await?))
}

/// Override a rule for a tenant's clusters (tenant admin).
#[utoipa::path(put, path = "/tenants/{id}/alert-rules/{rule}", tag = "monitoring", security(("bearer" = [])),
    params(("id" = TenantId, Path), ("rule" = String, Path)), request_body = SetAlertRule,
    responses((status = 200, body = AlertRule), (status = "default", response = ProblemResponse)))]
async fn set_tenant_alert_rule(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((id, rule)): ApiPath<(TenantId, String)>,
    ApiJson(body): ApiJson<SetAlertRule>,
) -> ApiResult<Json<AlertRule>> {
    Ok(Json(
        alerting::set(&s, &caller, Some(id), &rule, body).await?,
    ))
}

/// Drop a tenant's override; the platform default applies again.
#[utoipa::path(delete, path = "/tenants/{id}/alert-rules/{rule}", tag = "monitoring", security(("bearer" = [])),
    params(("id" = TenantId, Path), ("rule" = String, Path)),
    responses((status = 204, description = "Reset"), (status = "default", response = ProblemResponse)))]
async fn reset_tenant_alert_rule(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((id, rule)): ApiPath<(TenantId, String)>,
) -> ApiResult<StatusCode> {
    alerting::reset(&s, &caller, id, &rule).await?;
    Ok(StatusCode::NO_CONTENT)
}
