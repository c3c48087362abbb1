// SPDX-License-Identifier: GPL-2.0

//! The proxy: what happens to each call a container makes on our nodes.
//!
//! Every call is decoded by the pure core ([`crate::fgcore::nvabi`]); the
//! policy then forwards it to the vendor's file unchanged, refuses it, or
//! forwards it with accounting (memory allocations are charged before the
//! vendor sees them and settled at the size the vendor allocated), and
//! rewrites memory-info replies so the container sees its cap as the card.
//! Parameter blocks stay in user memory: the vendor copies them itself.
//!
//! Layout, imports pointing down: [`ops`] (the file operations) →
//! [`call`] (one ioctl: read → decode → route → execute; the only call of
//! the vendor's ioctl) → [`fdxlate`] (fd translation, lent GPU files,
//! export tracking) and [`audit`] (the vendor's count against the ledger)
//! → [`file`] (the node and file structs, open and close) → [`user`]
//! (copies from and to the caller).

mod audit;
mod call;
mod fdxlate;
pub(crate) mod file;
mod ops;
mod user;
