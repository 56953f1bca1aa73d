//! From a record's logical operation to the concrete kind of write (spec section 4).
//!
//! The choice depends on whether an External ID field is configured: with one, rows
//! are addressed by `<field>=<source Id>` and inserts are carried out as upserts, so a
//! replayed insert finds the row it created before instead of failing with
//! `DUPLICATE_VALUE` (spec section 5, "Replays must not halt the task").

use crate::config::Operation;

/// How a change is written; changes of one group can share a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteGroup {
    /// `POST /composite/sobjects`; the source Id is not sent.
    Insert,
    /// `PATCH /composite/sobjects/{T}/{field}` with the source Id in the field.
    UpsertByExternalId,
    /// `PATCH /composite/sobjects` addressed by the record's own Id.
    UpdateById,
    /// Resolve the target Ids by External ID first (a missing row is an error), then
    /// `PATCH /composite/sobjects`.
    UpdateByExternalId,
    /// `DELETE /composite/sobjects?ids=` with the record's own Id.
    DeleteById,
    /// Resolve the target Ids by External ID, then delete them.
    DeleteByExternalId,
}

impl WriteGroup {
    /// The group for `operation` given whether a custom External ID field is used.
    pub fn for_operation(operation: Operation, custom_id: bool) -> Self {
        match (operation, custom_id) {
            (Operation::Insert, false) => WriteGroup::Insert,
            (Operation::Insert, true) | (Operation::Upsert, _) => WriteGroup::UpsertByExternalId,
            (Operation::Update, false) => WriteGroup::UpdateById,
            (Operation::Update, true) => WriteGroup::UpdateByExternalId,
            (Operation::Delete, false) => WriteGroup::DeleteById,
            (Operation::Delete, true) => WriteGroup::DeleteByExternalId,
        }
    }

    /// Whether the change needs the record's source `Id`.
    pub fn needs_id(self) -> bool {
        !matches!(self, WriteGroup::Insert)
    }

    /// A label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteGroup::Insert => "insert",
            WriteGroup::UpsertByExternalId => "upsert",
            WriteGroup::UpdateById | WriteGroup::UpdateByExternalId => "update",
            WriteGroup::DeleteById | WriteGroup::DeleteByExternalId => "delete",
        }
    }

    /// Whether this is a delete.
    pub fn is_delete(self) -> bool {
        matches!(
            self,
            WriteGroup::DeleteById | WriteGroup::DeleteByExternalId
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_become_upserts_when_an_external_id_is_configured() {
        assert_eq!(
            WriteGroup::for_operation(Operation::Insert, true),
            WriteGroup::UpsertByExternalId
        );
        assert_eq!(
            WriteGroup::for_operation(Operation::Insert, false),
            WriteGroup::Insert
        );
    }

    #[test]
    fn updates_and_deletes_follow_the_addressing_mode() {
        assert_eq!(
            WriteGroup::for_operation(Operation::Update, true),
            WriteGroup::UpdateByExternalId
        );
        assert_eq!(
            WriteGroup::for_operation(Operation::Update, false),
            WriteGroup::UpdateById
        );
        assert_eq!(
            WriteGroup::for_operation(Operation::Delete, true),
            WriteGroup::DeleteByExternalId
        );
        assert!(!WriteGroup::Insert.needs_id());
        assert!(WriteGroup::DeleteById.needs_id());
    }
}
