//! Placement behaviour per endpoint and per microversion, ported from
//! Placement's gabbi tests (`placement/tests/functional/gabbits`).

mod aggregates;
mod allocations;
mod candidates;
mod classes;
mod controllers;
mod inventories;
mod providers;
mod reshaper;
mod root;
mod traits;
mod usages;
