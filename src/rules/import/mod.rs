//! Importers: rule data a merchant already has, turned into a rules document.
//! Today BigCommerce's manual tax; ZIP-code rate tables and WooCommerce files sit beside it.

pub mod bigcommerce;
pub mod zip_rates;
