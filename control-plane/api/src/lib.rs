//! Wire types shared by the control plane, the agents, the tests and any CLI, so the two
//! ends of a call cannot drift: typed ids, request/response DTOs, `Problem`, a typed client.

#[macro_use]
mod text;

pub mod agents;
pub mod audit;
#[cfg(feature = "client")]
pub mod client;
pub mod clusters;
pub mod hosts;
pub mod ids;
pub mod kafka_users;
pub mod monitoring;
pub mod page;
pub mod problem;
pub mod roles;
pub mod tenants;
pub mod tokens;
pub mod topics;

pub use ids::{AuditId, BrokerId, ClusterId, Generation, HostId, TenantId, TokenId, UserId};
pub use page::{Page, PageQuery};
pub use problem::{FieldError, Problem};
pub use roles::Role;
