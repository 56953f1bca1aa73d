//! How a resource handler reaches the org's rows: on its own it locks the org's data for
//! the length of its work; as a subrequest of a composite request it borrows the data the
//! composite already holds, so that every subrequest runs in one transaction and can be
//! rolled back together.

use crate::sim::org::OrgData;
use crate::sim::writes::UndoLog;
use parking_lot::MutexGuard;
use std::cell::{RefCell, RefMut};
use std::ops::{Deref, DerefMut};

/// The org's data for the length of one handler's work.
pub enum DataGuard<'a> {
    /// Locked by this call alone.
    Own(MutexGuard<'a, OrgData>),
    /// Borrowed from the composite request this call is part of.
    Shared(RefMut<'a, OrgData>),
}

impl Deref for DataGuard<'_> {
    type Target = OrgData;

    fn deref(&self) -> &OrgData {
        match self {
            DataGuard::Own(g) => g,
            DataGuard::Shared(g) => g,
        }
    }
}

impl DerefMut for DataGuard<'_> {
    fn deref_mut(&mut self) -> &mut OrgData {
        match self {
            DataGuard::Own(g) => g,
            DataGuard::Shared(g) => g,
        }
    }
}

/// A transaction several handlers write into: the data it holds and the changes made so
/// far (object-safe, so a call can carry it without naming its lifetime).
pub trait Ledger {
    /// The data, for one handler's work.
    fn data(&self) -> RefMut<'_, OrgData>;
    /// Keeps the changes a handler made, so the transaction can undo them later.
    fn keep(&self, undo: UndoLog);
}

/// The transaction of one composite request.
pub struct Transaction<'d> {
    data: RefCell<&'d mut OrgData>,
    undo: RefCell<UndoLog>,
}

impl<'d> Transaction<'d> {
    /// A transaction over data the caller has locked.
    pub fn new(data: &'d mut OrgData) -> Transaction<'d> {
        Transaction {
            data: RefCell::new(data),
            undo: RefCell::new(UndoLog::default()),
        }
    }

    /// Undoes every change kept so far, newest first.
    pub fn roll_back(&self) {
        let undo = self.undo.take();
        self.data().rollback(undo);
    }
}

impl Ledger for Transaction<'_> {
    fn data(&self) -> RefMut<'_, OrgData> {
        RefMut::map(self.data.borrow_mut(), |d| &mut **d)
    }

    fn keep(&self, undo: UndoLog) {
        self.undo.borrow_mut().append(undo);
    }
}
