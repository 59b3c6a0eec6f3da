//! Integrated accounts: the domain types (status, row, principal, typed status detail), the state
//! machine, connecting an account (post-install and validation steps), and the account
//! operations of the API.

pub mod detail;
pub mod error;
pub mod install;
pub mod lookup;
pub mod model;
pub mod principal;
pub mod service;
pub mod state_machine;

pub use detail::{Phase, StatusDetail};
pub use error::AccountsError;
pub use install::Installer;
pub use model::{AccountFilter, AccountRow, AccountStatus, TokenTimes};
pub use principal::Principal;
pub use service::{Accounts, CreateAccount, UpdateAccount};
pub use state_machine::{AccountEvent, TRANSITIONS, Transition};
