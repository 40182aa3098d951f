//! Handlers of `/api/user/orgs/...` and `/api/user/invitations/accept`: the organizations a
//! user belongs to, their members and roles, and invitations by email.
//!
//! These routes name the organization in the path, not in `X-Org-Id`. A user who is not a
//! member of it gets 404, as if it did not exist; a member whose role lacks the permission
//! (the README's table, `OrgRole::can`) gets 403 `permission_denied`.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::marker::PhantomData;
use tollgate_app::billing::is_paid;
use tollgate_app::current_subscription;
use tollgate_domain::id::prefix;
use tollgate_domain::text::NAME_MAX;
use tollgate_domain::token::{generate_secret_token, is_plausible_secret_token};
use tollgate_domain::{
    Email, Id, Invitation, MailMessage, Membership, OrgRole, Organization, Permission, StoredEnum, TokenHash, User,
    INVITATION_VALIDITY,
};
use tollgate_http::openapi::fields;
use tollgate_http::views::{text_field, Message};
use tollgate_http::{
    can, path_id, require_permission, ApiError, ApiJson, AppState, AuthUser, ErrorBody, ErrorCode, OptionalJson,
    RequiredPermission,
};
use utoipa::ToSchema;

/// An organization as one of its members sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrganizationView {
    pub id: Id,
    pub name: String,
    /// The personal organization created at registration: it cannot be deleted.
    pub personal: bool,
    /// The caller's role in it.
    pub role: OrgRole,
    pub created_at: DateTime<Utc>,
}

impl OrganizationView {
    fn new(org: &Organization, role: OrgRole) -> Self {
        OrganizationView {
            id: org.id.clone(),
            name: org.name.clone(),
            personal: org.personal,
            role,
            created_at: org.created_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrganizationList {
    /// Oldest membership first: the personal organization leads.
    pub data: Vec<OrganizationView>,
}

/// A new organization: the caller becomes its owner, and it starts on the Free plan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    #[schema(schema_with = fields::name)]
    pub name: String,
}

/// Renames the organization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    #[schema(schema_with = fields::name)]
    pub name: String,
}

/// Deleting an organization revokes its keys: the request names it to confirm.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteOrganizationRequest {
    /// The organization's name, exactly.
    pub confirm: Option<String>,
}

/// A member of an organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub user_id: Id,
    #[schema(value_type = String, format = Email)]
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
    pub role: OrgRole,
    pub joined_at: DateTime<Utc>,
}

impl MemberView {
    /// The member `membership` of the account `user`.
    pub fn new(user: User, membership: &Membership) -> Self {
        MemberView {
            user_id: user.id,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            role: membership.role,
            joined_at: membership.created_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    /// Oldest member first.
    pub data: Vec<MemberView>,
}

/// Gives a member another role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    pub role: OrgRole,
}

/// Invites someone by email with the role they get on accepting.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitationRequest {
    #[schema(schema_with = fields::email)]
    pub email: String,
    pub role: OrgRole,
}

/// An invitation as its organization's managers see it (never its token).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvitationView {
    pub id: Id,
    #[schema(value_type = String, format = Email)]
    pub email: Email,
    pub role: OrgRole,
    pub invited_by: Id,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Whether the link still works (false once expired).
    pub pending: bool,
}

impl InvitationView {
    fn new(inv: &Invitation, now: DateTime<Utc>) -> Self {
        InvitationView {
            id: inv.id.clone(),
            email: inv.email.clone(),
            role: inv.role,
            invited_by: inv.invited_by.clone(),
            created_at: inv.created_at,
            expires_at: inv.expires_at,
            pending: inv.is_pending(now),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvitationList {
    /// Invitations not accepted yet (expired ones included), newest first.
    pub data: Vec<InvitationView>,
}

/// The token of an invitation link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    #[schema(schema_with = fields::mail_token)]
    pub token: String,
}

/// The caller's membership of the organization `raw` names: 404 unless they are a member.
async fn membership(state: &AppState, auth: &AuthUser, raw: &str) -> Result<Membership, ApiError> {
    let org_id = path_id(raw, prefix::ORG, "organization")?;
    state.store.get_membership(&org_id, &auth.user.id).await?.ok_or_else(|| ApiError::NotFound("organization".into()))
}

/// A member of the organization the path's `{id}` names (404 unless a member) whose role
/// grants `P` (403 `permission_denied`). As an extractor it is checked before the body is
/// read, as `Authorized` is on the routes that take the organization from `X-Org-Id`.
pub struct OrgMember<P> {
    pub auth: AuthUser,
    pub membership: Membership,
    _permission: PhantomData<P>,
}

impl<P: RequiredPermission> FromRequestParts<AppState> for OrgMember<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let auth = AuthUser::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let raw = params.get("id").ok_or_else(|| ApiError::Internal("an organization route without {id}".into()))?;
        let membership = membership(state, &auth, raw).await?;
        require_permission(membership.role, P::PERMISSION)?;
        Ok(OrgMember { auth, membership, _permission: PhantomData })
    }
}

impl<P> OrgMember<P> {
    fn org_id(&self) -> &Id {
        &self.membership.org_id
    }

    /// The audit event of `action` by the caller in this organization.
    fn event(&self, action: &str, now: DateTime<Utc>) -> tollgate_domain::AuditEvent {
        self.auth.audit_event(action, now).org(&self.membership.org_id)
    }
}

async fn organization(state: &AppState, id: &Id) -> Result<Organization, ApiError> {
    state.store.get_organization(id).await?.ok_or_else(|| ApiError::NotFound("organization".into()))
}

/// 403 `permission_denied` unless a member with `actor` may give or take away `role`
/// (owners only by owners).
fn may_manage(actor: OrgRole, role: OrgRole) -> Result<(), ApiError> {
    if actor.may_manage(role) {
        Ok(())
    } else {
        Err(ApiError::rejected(
            ErrorCode::PermissionDenied,
            format!("the {} role may not manage the {} role", actor.as_str(), role.as_str()),
        ))
    }
}

/// The organizations the caller belongs to, with their role in each.
#[utoipa::path(get, path = "/api/user/orgs", tag = "organizations", security(("bearer" = [])),
    responses((status = 200, description = "The caller's organizations", body = OrganizationList)))]
pub async fn list_organizations(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<OrganizationList>, ApiError> {
    let mut data = Vec::new();
    for m in state.store.memberships_of_user(&auth.user.id).await? {
        // A membership whose organization is gone (deleted meanwhile) is skipped.
        if let Some(org) = state.store.get_organization(&m.org_id).await? {
            data.push(OrganizationView::new(&org, m.role));
        }
    }
    Ok(Json(OrganizationList { data }))
}

/// Creates an organization owned by the caller, on the Free plan. Its keys, subscription,
/// usage and webhooks are its own; send `X-Org-Id: <its id>` to work on them.
#[utoipa::path(post, path = "/api/user/orgs", tag = "organizations", security(("bearer" = [])),
    request_body = CreateOrganizationRequest,
    responses(
        (status = 201, description = "The organization", body = OrganizationView),
        (status = 422, description = "`invalid_field`: a blank or too long name", body = ErrorBody),
    ))]
pub async fn create_organization(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<CreateOrganizationRequest>,
) -> Result<(StatusCode, Json<OrganizationView>), ApiError> {
    let now = state.now();
    let org = Organization {
        id: Id::generate(prefix::ORG),
        name: text_field("name", &req.name, NAME_MAX)?,
        owner_id: auth.user.id.clone(),
        personal: false,
        created_at: now,
    };
    let owner =
        Membership { org_id: org.id.clone(), user_id: auth.user.id.clone(), role: OrgRole::Owner, created_at: now };
    state.store.create_organization(&org, &owner).await?;
    // Idempotent: if this fails, the first read of the subscription creates it.
    current_subscription(state.store.as_ref(), &org.id, now).await?;
    state.audit(auth.audit_event("organization.create", now).org(&org.id).target(org.id.to_string())).await;
    Ok((StatusCode::CREATED, Json(OrganizationView::new(&org, OrgRole::Owner))))
}

/// One organization the caller belongs to.
#[utoipa::path(get, path = "/api/user/orgs/{id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The organization", body = OrganizationView),
        (status = 404, description = "`not_found`: no such organization, or not a member", body = ErrorBody),
    ))]
pub async fn get_organization(
    State(state): State<AppState>,
    member: OrgMember<can::Read>,
) -> Result<Json<OrganizationView>, ApiError> {
    Ok(Json(OrganizationView::new(&organization(&state, member.org_id()).await?, member.membership.role)))
}

/// Renames the organization (owners and admins).
#[utoipa::path(put, path = "/api/user/orgs/{id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id")),
    request_body = UpdateOrganizationRequest,
    responses(
        (status = 200, description = "The organization", body = OrganizationView),
        (status = 403, description = "`permission_denied`: the caller's role may not rename it", body = ErrorBody),
        (status = 404, description = "`not_found`: no such organization, or not a member", body = ErrorBody),
        (status = 422, description = "`invalid_field`: a blank or too long name", body = ErrorBody),
    ))]
pub async fn update_organization(
    State(state): State<AppState>,
    member: OrgMember<can::ManageOrganization>,
    ApiJson(req): ApiJson<UpdateOrganizationRequest>,
) -> Result<Json<OrganizationView>, ApiError> {
    let name = text_field("name", &req.name, NAME_MAX)?;
    let before = organization(&state, member.org_id()).await?;
    state.store.rename_organization(member.org_id(), &name).await?;
    let now = state.now();
    state
        .audit(
            member
                .event("organization.update", now)
                .target(before.id.to_string())
                .changes(serde_json::json!({ "name": before.name }), serde_json::json!({ "name": name })),
        )
        .await;
    Ok(Json(OrganizationView::new(&Organization { name, ..before }, member.membership.role)))
}

/// Deletes the organization (owners only): its members and invitations go and its keys are
/// revoked (the gateway refuses them within 5 seconds). The body confirms the name. A
/// personal organization cannot be deleted, nor one with a paid subscription still running
/// (cancel it first).
#[utoipa::path(delete, path = "/api/user/orgs/{id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id")),
    request_body(content = Option<DeleteOrganizationRequest>, description = "`{\"confirm\": \"<the organization's name>\"}`"),
    responses(
        (status = 200, description = "Deleted", body = Message),
        (status = 403, description = "`permission_denied`: only owners delete an organization", body = ErrorBody),
        (status = 404, description = "`not_found`: no such organization, or not a member", body = ErrorBody),
        (status = 409, description = "`conflict`: a personal organization, or a paid subscription still running", body = ErrorBody),
        (status = 422, description = "`confirmation_required`: `confirm` is not the organization's name", body = ErrorBody),
    ))]
pub async fn delete_organization(
    State(state): State<AppState>,
    member: OrgMember<can::OwnOrganization>,
    OptionalJson(req): OptionalJson<DeleteOrganizationRequest>,
) -> Result<Json<Message>, ApiError> {
    let org = organization(&state, member.org_id()).await?;
    if org.personal {
        return Err(ApiError::rejected(ErrorCode::Conflict, "a personal organization cannot be deleted"));
    }
    if req.and_then(|r| r.confirm).as_deref() != Some(org.name.as_str()) {
        return Err(ApiError::rejected(
            ErrorCode::ConfirmationRequired,
            format!("deleting an organization revokes its keys: send {{\"confirm\": \"{}\"}} to confirm", org.name),
        ));
    }
    let now = state.now();
    let (subscription, plan) = current_subscription(state.store.as_ref(), &org.id, now).await?;
    if is_paid(&plan) && subscription.is_serving() && !subscription.cancel_at_period_end {
        return Err(ApiError::rejected(
            ErrorCode::Conflict,
            "the organization has a paid subscription: cancel it before deleting the organization",
        ));
    }
    state.store.delete_organization(&org.id, now).await?;
    state
        .audit(
            member
                .event("organization.delete", now)
                .target(org.id.to_string())
                .details(serde_json::json!({ "name": org.name })),
        )
        .await;
    Ok(Message::new("organization deleted"))
}

/// The organization's members (any member may read them).
#[utoipa::path(get, path = "/api/user/orgs/{id}/members", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The members", body = MemberList),
        (status = 404, description = "`not_found`: no such organization, or not a member", body = ErrorBody),
    ))]
pub async fn list_members(
    State(state): State<AppState>,
    reader: OrgMember<can::Read>,
) -> Result<Json<MemberList>, ApiError> {
    let mut data = Vec::new();
    for member in state.store.list_members(reader.org_id()).await? {
        if let Some(user) = state.store.get_user(&member.user_id).await? {
            data.push(MemberView::new(user, &member));
        }
    }
    Ok(Json(MemberList { data }))
}

/// The target member of a member route: 404 unless `raw` names a member of `org`.
async fn target_member(state: &AppState, org: &Id, raw: &str) -> Result<Membership, ApiError> {
    let user_id = path_id(raw, prefix::USER, "member")?;
    state.store.get_membership(org, &user_id).await?.ok_or_else(|| ApiError::NotFound("member".into()))
}

/// Gives a member another role (owners and admins; only owners make or demote owners). The
/// last owner cannot be demoted (409 `last_owner`).
#[utoipa::path(put, path = "/api/user/orgs/{id}/members/{user_id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "The member's user id")),
    request_body = UpdateMemberRequest,
    responses(
        (status = 200, description = "The member's new role", body = MemberView),
        (status = 403, description = "`permission_denied`: the caller's role may not manage this role", body = ErrorBody),
        (status = 404, description = "`not_found`: no such organization or member", body = ErrorBody),
        (status = 409, description = "`last_owner`: the organization would have no owner", body = ErrorBody),
    ))]
pub async fn update_member(
    State(state): State<AppState>,
    me: OrgMember<can::ManageMembers>,
    Path((_org, user_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateMemberRequest>,
) -> Result<Json<MemberView>, ApiError> {
    let target = target_member(&state, me.org_id(), &user_id).await?;
    may_manage(me.membership.role, target.role)?;
    may_manage(me.membership.role, req.role)?;
    let updated = state.store.set_member_role(me.org_id(), &target.user_id, req.role).await?;
    let user = state.store.get_user(&target.user_id).await?.ok_or_else(|| ApiError::NotFound("member".into()))?;
    let now = state.now();
    state
        .audit(
            me.event("member.role_change", now)
                .target(target.user_id.to_string())
                .changes(serde_json::json!({ "role": target.role }), serde_json::json!({ "role": updated.role })),
        )
        .await;
    Ok(Json(MemberView::new(user, &updated)))
}

/// Removes a member (owners and admins; owners only by owners), or leaves the organization
/// (any member, naming themselves). The last owner cannot go (409 `last_owner`).
#[utoipa::path(delete, path = "/api/user/orgs/{id}/members/{user_id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "The member's user id")),
    responses(
        (status = 200, description = "Removed", body = Message),
        (status = 403, description = "`permission_denied`: the caller's role may not remove this member", body = ErrorBody),
        (status = 404, description = "`not_found`: no such organization or member", body = ErrorBody),
        (status = 409, description = "`last_owner`: the organization would have no owner", body = ErrorBody),
    ))]
pub async fn remove_member(
    State(state): State<AppState>,
    me: OrgMember<can::Read>,
    Path((_org, user_id)): Path<(String, String)>,
) -> Result<Json<Message>, ApiError> {
    let target = target_member(&state, me.org_id(), &user_id).await?;
    // Anyone may leave; removing someone else takes the permission.
    if target.user_id != me.auth.user.id {
        require_permission(me.membership.role, Permission::ManageMembers)?;
        may_manage(me.membership.role, target.role)?;
    }
    state.store.remove_member(me.org_id(), &target.user_id).await?;
    let now = state.now();
    state
        .audit(
            me.event("member.remove", now)
                .target(target.user_id.to_string())
                .changes(serde_json::json!({ "role": target.role }), serde_json::Value::Null),
        )
        .await;
    Ok(Message::new("member removed"))
}

/// Invites someone by email (owners and admins; an owner invitation only by an owner): a
/// one-time link, valid for 7 days, is mailed. Accepting it (`POST
/// /api/user/invitations/accept`, signed in with any account) makes that account a member.
#[utoipa::path(post, path = "/api/user/orgs/{id}/invitations", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id")),
    request_body = CreateInvitationRequest,
    responses(
        (status = 201, description = "Invited; the link is mailed", body = InvitationView),
        (status = 403, description = "`permission_denied`: the caller's role may not invite with this role", body = ErrorBody),
        (status = 404, description = "`not_found`: no such organization, or not a member", body = ErrorBody),
        (status = 409, description = "`already_member`: the account with this email is a member already", body = ErrorBody),
        (status = 422, description = "`invalid_email`: not an email address", body = ErrorBody),
    ))]
pub async fn create_invitation(
    State(state): State<AppState>,
    me: OrgMember<can::ManageMembers>,
    ApiJson(req): ApiJson<CreateInvitationRequest>,
) -> Result<(StatusCode, Json<InvitationView>), ApiError> {
    may_manage(me.membership.role, req.role)?;
    let email = Email::parse(&req.email)?;
    if let Some(existing) = state.store.find_user_by_email(&email).await? {
        if state.store.get_membership(me.org_id(), &existing.id).await?.is_some() {
            return Err(ApiError::from(tollgate_domain::StoreError::AlreadyExists("member")));
        }
    }
    let org = organization(&state, me.org_id()).await?;
    let auth = &me.auth;
    let now = state.now();
    let secret = generate_secret_token();
    let invitation = Invitation {
        id: Id::generate(prefix::INVITATION),
        org_id: org.id.clone(),
        email,
        role: req.role,
        invited_by: auth.user.id.clone(),
        token_hash: TokenHash::of(&secret),
        created_at: now,
        expires_at: now + INVITATION_VALIDITY,
        accepted_at: None,
        accepted_by: None,
    };
    state.store.create_invitation(&invitation).await?;
    let link = format!("{}/accept-invitation?token={secret}", state.settings.public_base_url);
    let message = MailMessage {
        id: Id::generate(prefix::MAIL),
        to: invitation.email.clone(),
        subject: format!("You are invited to {}", org.name),
        text_body: format!(
            "Hello,\n\n{} {} invites you to join {} as {} (the link works once, for 7 days):\n\n{link}\n\n\
             Or sign in and send the token to the API: {secret}\n\nIf you do not know them, ignore this mail.\n",
            auth.user.first_name,
            auth.user.last_name,
            org.name,
            invitation.role.as_str(),
        ),
        html_body: None,
        kind: "invitation".into(),
        created_at: now,
    };
    state.mailer.send(&message).await?;
    state
        .audit(
            me.event("invitation.create", now)
                .target(invitation.id.to_string())
                .details(serde_json::json!({ "email": invitation.email, "role": invitation.role })),
        )
        .await;
    Ok((StatusCode::CREATED, Json(InvitationView::new(&invitation, now))))
}

/// The organization's invitations not accepted yet (owners and admins).
#[utoipa::path(get, path = "/api/user/orgs/{id}/invitations", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The invitations", body = InvitationList),
        (status = 403, description = "`permission_denied`: the caller's role may not manage members", body = ErrorBody),
        (status = 404, description = "`not_found`: no such organization, or not a member", body = ErrorBody),
    ))]
pub async fn list_invitations(
    State(state): State<AppState>,
    me: OrgMember<can::ManageMembers>,
) -> Result<Json<InvitationList>, ApiError> {
    let now = state.now();
    let data = state.store.list_invitations(me.org_id()).await?.iter().map(|i| InvitationView::new(i, now)).collect();
    Ok(Json(InvitationList { data }))
}

/// Withdraws an invitation: its link stops working (owners and admins).
#[utoipa::path(delete, path = "/api/user/orgs/{id}/invitations/{invitation_id}", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id"), ("invitation_id" = String, Path, description = "Invitation id")),
    responses(
        (status = 200, description = "Withdrawn", body = Message),
        (status = 403, description = "`permission_denied`: the caller's role may not manage members", body = ErrorBody),
        (status = 404, description = "`not_found`: no such organization or pending invitation", body = ErrorBody),
    ))]
pub async fn delete_invitation(
    State(state): State<AppState>,
    me: OrgMember<can::ManageMembers>,
    Path((_org, invitation_id)): Path<(String, String)>,
) -> Result<Json<Message>, ApiError> {
    let invitation_id = path_id(&invitation_id, prefix::INVITATION, "invitation")?;
    state.store.delete_invitation(me.org_id(), &invitation_id).await?;
    let now = state.now();
    state.audit(me.event("invitation.delete", now).target(invitation_id.to_string())).await;
    Ok(Message::new("invitation withdrawn"))
}

/// Accepts an invitation with the token of its link: the signed-in account becomes a member
/// with the invitation's role. The link works once, for 7 days.
#[utoipa::path(post, path = "/api/user/invitations/accept", tag = "organizations", security(("bearer" = [])),
    request_body = AcceptInvitationRequest,
    responses(
        (status = 200, description = "The organization joined", body = OrganizationView),
        (status = 409, description = "`already_member`: the account is a member already", body = ErrorBody),
        (status = 422, description = "`invalid_field`: the token is invalid, used, withdrawn or expired", body = ErrorBody),
    ))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<AcceptInvitationRequest>,
) -> Result<Json<OrganizationView>, ApiError> {
    let invalid = || ApiError::invalid_field("token", "is invalid, already used, withdrawn or expired");
    let token = req.token.trim();
    // Junk input costs no store read.
    if !is_plausible_secret_token(token) {
        return Err(invalid());
    }
    let now = state.now();
    let joined = state.store.accept_invitation(&TokenHash::of(token), &auth.user.id, now).await?.ok_or_else(invalid)?;
    let org = organization(&state, &joined.org_id).await?;
    state
        .audit(
            auth.audit_event("member.join", now)
                .org(&org.id)
                .target(auth.user.id.to_string())
                .changes(serde_json::Value::Null, serde_json::json!({ "role": joined.role })),
        )
        .await;
    Ok(Json(OrganizationView::new(&org, joined.role)))
}
