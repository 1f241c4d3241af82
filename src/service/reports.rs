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

/// Folds the account's quotes into `report`, one at a time off the executor.
async fn fold<R: report::Report + Send + 'static>(
    state: &AppState,
    account: &str,
    report: R,
) -> Result<R, LevyError> {
    super::accounts::get(state, account)?;
    state
        .store
        .fold_quotes(account.to_string(), report, |report, quote| {
            report.add(&quote.head, quote.latest.as_ref())
        })
        .await
        .map_err(crate::store::StoreError::into_client_error)
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
    Ok(fold(state, account, report::ByJurisdiction::new(from, to))
        .await?
        .rows())
}

/// Committed, non-voided tax by rate and currency over a transaction-date range.
pub async fn liability(
    state: &AppState,
    account: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<LiabilityRow>, LevyError> {
    check_range(from, to)?;
    Ok(fold(state, account, report::Liability::new(from, to))
        .await?
        .rows())
}

/// Committed, non-voided tax by month of the transaction date and currency.
pub async fn by_month(
    state: &AppState,
    account: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<report::MonthRow>, LevyError> {
    check_range(from, to)?;
    Ok(fold(state, account, report::ByMonth::new(from, to))
        .await?
        .rows())
}

/// The newest committed quotes of one of the account's stores.
pub async fn recent(
    state: &AppState,
    account: &str,
    store_hash: &str,
    limit: usize,
) -> Result<Vec<report::RecentQuote>, LevyError> {
    let mut rows = fold(state, account, report::Recent::new(store_hash, limit))
        .await?
        .rows();
    rows.truncate(limit);
    Ok(rows)
}
