//! Who may start an operation whose role alone decides: checked by the use case, and by the HTTP
//! edge before it reads the request's input, so a caller without the role is refused (403)
//! whatever it sent and is not told what was wrong with its body.

use clinic_shared::auth::Caller;
use clinic_shared::envelope::Role;

use crate::domain::ExamsError;

/// An operation restricted by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    PublishSlots,
    Book,
    Assign,
    SubmitBatch,
}

impl Operation {
    fn roles(self) -> &'static [Role] {
        match self {
            Self::PublishSlots | Self::Assign => &[Role::Staff, Role::Hospital],
            Self::Book => &[Role::Patient],
            Self::SubmitBatch => &[Role::Hospital],
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Self::PublishSlots => "only staff and hospitals publish slots",
            Self::Book => "only patients book exams",
            Self::Assign => "only staff and hospitals assign doctors",
            Self::SubmitBatch => "only hospitals send batches",
        }
    }
}

/// `Ok` when the caller's role may start `operation`.
///
/// # Errors
/// `Forbidden` naming who may.
pub fn authorize(caller: &Caller, operation: Operation) -> Result<(), ExamsError> {
    if operation.roles().contains(&caller.role) {
        Ok(())
    } else {
        Err(ExamsError::Forbidden(operation.refusal()))
    }
}
