//! Importers: rule data a merchant already has, turned into a rules document.
//! BigCommerce's manual tax, US ZIP-code rate tables and WooCommerce tax rate files.

pub mod bigcommerce;
pub mod woocommerce;
pub mod zip_rates;
