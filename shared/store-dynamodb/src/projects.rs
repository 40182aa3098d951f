//! `ProjectRepository`: TODO(helper) — placeholder bodies while the adapter is written.

use crate::DynamoStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tollgate_domain::{Id, Project, ProjectRepository, StoreError, TokenHash};

#[async_trait]
impl ProjectRepository for DynamoStore {
    async fn create_project(&self, _project: &Project, _max_projects: u32) -> Result<(), StoreError> {
        todo!()
    }
    async fn ensure_project(&self, _project: &Project) -> Result<Project, StoreError> {
        todo!()
    }
    async fn list_projects(&self, _org_id: &Id) -> Result<Vec<Project>, StoreError> {
        todo!()
    }
    async fn get_project(&self, _org_id: &Id, _project_id: &Id) -> Result<Option<Project>, StoreError> {
        todo!()
    }
    async fn update_project(&self, _project: &Project) -> Result<(), StoreError> {
        todo!()
    }
    async fn delete_project(&self, _org_id: &Id, _project_id: &Id, _now: DateTime<Utc>) -> Result<u32, StoreError> {
        todo!()
    }
    async fn find_project_by_verify_secret(&self, _hash: &TokenHash) -> Result<Option<Project>, StoreError> {
        todo!()
    }
}
