//! An account's rule set, pure and free of HTTP: the model (SPEC section 3), what makes
//! it valid ([`ValidRules`]), BigCommerce-shaped editing of zones, rates, classes and
//! settings, postal patterns, and importers of rule data merchants already have.

pub mod editing;
pub mod import;
mod model;
pub mod postal;
mod validate;

pub use model::*;
pub use validate::{validate_class, validate_rate, validate_settings, validate_zone, ValidRules};
