//! Reports over committed quotes.

use crate::error::{ErrorCode, LevyError};
use crate::report::{self, JurisdictionRow, LiabilityRow};
use crate::state::AppState;
use chrono::NaiveDate;

fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), LevyError> {
    if from > to {
        return Err(LevyError::at(
            ErrorCode::BadRequest,
            "to",
            "`to` comes before `from`",
        ));
    }
    Ok(())
}

/// Committed, non-voided tax by jurisdiction and currency over a transaction-date
/// range, from the audits kept at commit time (SPEC 10.8).
pub async fn liability_by_jurisdiction(
    state: &AppState,
    account: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<JurisdictionRow>, LevyError> {
    check_range(from, to)?;
    super::accounts::get(state, account)?;
    let report = state
        .store
        .fold_quotes(
            account.to_string(),
            report::ByJurisdiction::new(from, to),
            |report, quote| report.add(&quote.head, quote.latest.as_ref()),
        )
        .await
        .map_err(crate::store::StoreError::into_client_error)?;
    Ok(report.rows())
}

/// Committed, non-voided tax by rate and currency over a transaction-date range.
pub async fn liability(
    state: &AppState,
    account: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<LiabilityRow>, LevyError> {
    check_range(from, to)?;
    super::accounts::get(state, account)?;
    let report = state
        .store
        .fold_quotes(
            account.to_string(),
            report::Liability::new(from, to),
            |report, quote| report.add(&quote.head, quote.latest.as_ref()),
        )
        .await
        .map_err(crate::store::StoreError::into_client_error)?;
    Ok(report.rows())
}
