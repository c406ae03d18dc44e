//! OpenID Connect sign-in for the portal (being written).
