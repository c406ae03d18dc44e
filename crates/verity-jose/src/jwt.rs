//! Registered JWT time claims (RFC 7519 section 4.1.4-4.1.6).

use serde_json::Value;

use crate::JoseError;

/// Registered JWT time claims check: exp/nbf/iat with `skew` seconds of leeway; `now` is unix
/// seconds.
///
/// A token is expired once `now >= exp + skew` (RFC 7519: "on or after"), not yet valid while
/// `now + skew < nbf`, and issued in the future when `iat > now + skew`. Fractional NumericDates
/// are truncated toward negative infinity. A negative `skew` counts as zero.
pub fn check_times(
    claims: &Value,
    now: i64,
    skew: i64,
    require_exp: bool,
) -> Result<(), JoseError> {
    let skew = skew.max(0);
    let Some(obj) = claims.as_object() else {
        return Err(JoseError::BadClaimType("claims"));
    };
    match numeric_date(obj, "exp")? {
        Some(exp) if now >= exp.saturating_add(skew) => {
            return Err(JoseError::Expired { exp, now });
        }
        Some(_) => {}
        None if require_exp => return Err(JoseError::MissingClaim("exp")),
        None => {}
    }
    if let Some(nbf) = numeric_date(obj, "nbf")?
        && now.saturating_add(skew) < nbf
    {
        return Err(JoseError::NotYetValid { nbf, now });
    }
    if let Some(iat) = numeric_date(obj, "iat")?
        && iat > now.saturating_add(skew)
    {
        return Err(JoseError::IssuedInFuture { iat, now });
    }
    Ok(())
}

fn numeric_date(
    obj: &serde_json::Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, JoseError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            // Float-to-int `as` saturates, which is the right answer for absurd dates.
            .or_else(|| n.as_f64().map(|f| f.floor() as i64))
            .map(Some)
            .ok_or(JoseError::BadClaimType(name)),
        Some(_) => Err(JoseError::BadClaimType(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn valid_window_passes() {
        let c = json!({"iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 10});
        check_times(&c, NOW, 0, true).unwrap();
    }

    #[test]
    fn expired_on_or_after_exp() {
        let c = json!({"exp": NOW});
        assert_eq!(
            check_times(&c, NOW, 0, true),
            Err(JoseError::Expired { exp: NOW, now: NOW })
        );
        check_times(&c, NOW - 1, 0, true).unwrap();
    }

    #[test]
    fn not_yet_valid_before_nbf() {
        let c = json!({"nbf": NOW + 1});
        assert_eq!(
            check_times(&c, NOW, 0, false),
            Err(JoseError::NotYetValid {
                nbf: NOW + 1,
                now: NOW
            })
        );
        check_times(&json!({"nbf": NOW}), NOW, 0, false).unwrap();
    }

    #[test]
    fn issued_in_the_future() {
        assert_eq!(
            check_times(&json!({"iat": NOW + 1}), NOW, 0, false),
            Err(JoseError::IssuedInFuture {
                iat: NOW + 1,
                now: NOW
            })
        );
    }

    #[test]
    fn skew_tolerates_small_clock_differences_only() {
        let skew = 60;
        check_times(&json!({"exp": NOW - 59}), NOW, skew, true).unwrap();
        assert!(matches!(
            check_times(&json!({"exp": NOW - 60}), NOW, skew, true),
            Err(JoseError::Expired { .. })
        ));
        check_times(&json!({"nbf": NOW + 60, "iat": NOW + 60}), NOW, skew, false).unwrap();
        assert!(matches!(
            check_times(&json!({"nbf": NOW + 61}), NOW, skew, false),
            Err(JoseError::NotYetValid { .. })
        ));
        assert!(matches!(
            check_times(&json!({"iat": NOW + 61}), NOW, skew, false),
            Err(JoseError::IssuedInFuture { .. })
        ));
        // Negative skew is treated as zero, never as a tightening that could overflow.
        assert!(matches!(
            check_times(&json!({"exp": NOW}), NOW, -100, true),
            Err(JoseError::Expired { .. })
        ));
    }

    #[test]
    fn missing_exp_only_matters_when_required() {
        assert_eq!(
            check_times(&json!({"iat": NOW}), NOW, 0, true),
            Err(JoseError::MissingClaim("exp"))
        );
        check_times(&json!({"iat": NOW}), NOW, 0, false).unwrap();
    }

    #[test]
    fn time_claims_must_be_numbers() {
        for name in ["exp", "nbf", "iat"] {
            let c = json!({ name: "1700000000" });
            assert_eq!(
                check_times(&c, NOW, 0, false),
                Err(JoseError::BadClaimType(name))
            );
        }
        assert_eq!(
            check_times(&json!([1]), NOW, 0, false),
            Err(JoseError::BadClaimType("claims"))
        );
    }

    #[test]
    fn fractional_and_huge_dates() {
        // Truncation is conservative: exp NOW+0.5 counts as NOW, expired at NOW.
        let c = json!({"exp": (NOW as f64) + 0.5});
        check_times(&c, NOW - 1, 0, true).unwrap();
        assert_eq!(
            check_times(&c, NOW, 0, true),
            Err(JoseError::Expired { exp: NOW, now: NOW })
        );
        check_times(&json!({"exp": 1e300}), NOW, 0, true).unwrap();
        check_times(&json!({"exp": u64::MAX}), NOW, i64::MAX, true).unwrap();
    }
}
