//! Records and documents made from runs and runbooks: drill records and the drill log, drill
//! evidence folders, the disaster-recovery playbook, and operating-system schedules.
//!
//! Plain Rust over plain data: nothing here runs a script (the CLI hands in outlines, metadata
//! and run outcomes), so each renderer is unit-tested on its own.

pub mod drill;
pub mod evidence;
pub mod playbook;
pub mod schedule;
