//! RFC 9901 section 7.1 step 3-5: substituting Disclosures into the Issuer-signed JWT payload.
//!
//! Shared by the Holder (who processes the issued SD-JWT with every Disclosure) and the
//! Verifier (who processes a presentation with the selected ones).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::{ClaimPath, Disclosure, HashAlg, PathElement, SdJwtError};

/// Deepest nesting of objects, arrays and Disclosures accepted. serde_json bounds each JSON
/// document at 128 levels; Disclosures nest documents inside each other, so this bounds the sum.
pub const MAX_NESTING_DEPTH: usize = 256;

/// The Processed SD-JWT Payload and where each Disclosure went.
pub(crate) struct Processed {
    /// The payload with Disclosures substituted, `_sd`, undisclosed `...` elements and the
    /// top-level `_sd_alg` removed.
    pub claims: Map<String, Value>,
    /// For each Disclosure (same order as given), the path of the claim it disclosed.
    pub paths: Vec<ClaimPath>,
}

/// Processes `payload` with `disclosures` (RFC 9901 section 7.1 step 3, 4 and 5): every digest
/// at most once, every Disclosure referenced exactly once, shapes and names checked.
pub(crate) fn process(
    payload: Map<String, Value>,
    disclosures: &[Disclosure],
    alg: HashAlg,
) -> Result<Processed, SdJwtError> {
    let mut by_digest = HashMap::with_capacity(disclosures.len());
    let mut digests = Vec::with_capacity(disclosures.len());
    for (index, disclosure) in disclosures.iter().enumerate() {
        let digest = disclosure.digest(alg);
        if by_digest.insert(digest.clone(), index).is_some() {
            return Err(SdJwtError::DuplicateDisclosure { index, digest });
        }
        digests.push(digest);
    }
    let mut processor = Processor {
        disclosures,
        by_digest,
        seen: HashSet::new(),
        paths: vec![None; disclosures.len()],
        path: ClaimPath::root(),
    };
    let mut claims = processor.object(payload, 0, true)?;
    claims.remove("_sd_alg");
    let paths = processor
        .paths
        .into_iter()
        .zip(digests)
        .enumerate()
        .map(|(index, (path, digest))| {
            path.ok_or(SdJwtError::UnreferencedDisclosure { index, digest })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Processed { claims, paths })
}

struct Processor<'a> {
    disclosures: &'a [Disclosure],
    by_digest: HashMap<String, usize>,
    /// Every digest met so far (disclosed, undisclosed and decoys alike).
    seen: HashSet<String>,
    /// Where each Disclosure was inserted, once it has been.
    paths: Vec<Option<ClaimPath>>,
    /// The path of the value being processed.
    path: ClaimPath,
}

impl<'a> Processor<'a> {
    fn value(&mut self, value: Value, depth: usize) -> Result<Value, SdJwtError> {
        if depth > MAX_NESTING_DEPTH {
            return Err(SdJwtError::NestingTooDeep {
                max: MAX_NESTING_DEPTH,
            });
        }
        match value {
            Value::Object(obj) => self.object(obj, depth, false).map(Value::Object),
            Value::Array(items) => self.array(items, depth).map(Value::Array),
            other => Ok(other),
        }
    }

    fn object(
        &mut self,
        mut obj: Map<String, Value>,
        depth: usize,
        top_level: bool,
    ) -> Result<Map<String, Value>, SdJwtError> {
        let sd = obj.remove("_sd");
        if obj.contains_key("...") {
            return Err(SdJwtError::MalformedArrayDigest {
                path: self.child_path(PathElement::Key("...".into())),
            });
        }
        if !top_level && obj.contains_key("_sd_alg") {
            return Err(SdJwtError::MisplacedSdAlg {
                path: self.child_path(PathElement::Key("_sd_alg".into())),
            });
        }
        let mut out = Map::new();
        for (name, value) in obj {
            self.path.push(PathElement::Key(name.clone()));
            let value = self.value(value, depth + 1)?;
            self.path.pop();
            out.insert(name, value);
        }
        let Some(sd) = sd else {
            return Ok(out);
        };
        let malformed = || SdJwtError::MalformedSdArray {
            path: self.path.to_string(),
        };
        let Value::Array(digests) = sd else {
            return Err(malformed());
        };
        let digests = digests
            .into_iter()
            .map(|d| match d {
                Value::String(d) => Ok(d),
                _ => Err(malformed()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let disclosures = self.disclosures;
        for digest in digests {
            self.note(&digest)?;
            let Some(&index) = self.by_digest.get(&digest) else {
                continue; // not presented, or a decoy
            };
            let Some(disclosure) = disclosures.get(index) else {
                continue;
            };
            let Some(name) = disclosure.name() else {
                return Err(SdJwtError::DisclosureKindMismatch {
                    digest,
                    path: self.path.to_string(),
                    expected: "an object-property disclosure [salt, name, value], as its digest is in `_sd`",
                });
            };
            if name == "_sd_alg" {
                return Err(SdJwtError::MisplacedSdAlg {
                    path: self.child_path(PathElement::Key(name.to_owned())),
                });
            }
            if out.contains_key(name) {
                return Err(SdJwtError::ClaimNameCollision {
                    name: name.to_owned(),
                    path: self.path.to_string(),
                });
            }
            self.path.push(PathElement::Key(name.to_owned()));
            self.mark(index);
            let value = self.value(disclosure.value().clone(), depth + 1)?;
            self.path.pop();
            out.insert(name.to_owned(), value);
        }
        Ok(out)
    }

    fn array(&mut self, items: Vec<Value>, depth: usize) -> Result<Vec<Value>, SdJwtError> {
        let disclosures = self.disclosures;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let digest = match &item {
                Value::Object(obj) if obj.contains_key("...") => match obj.get("...") {
                    Some(Value::String(d)) if obj.len() == 1 => Some(d.clone()),
                    _ => {
                        return Err(SdJwtError::MalformedArrayDigest {
                            path: self.child_path(PathElement::Index(out.len())),
                        });
                    }
                },
                _ => None,
            };
            let Some(digest) = digest else {
                self.path.push(PathElement::Index(out.len()));
                let value = self.value(item, depth + 1)?;
                self.path.pop();
                out.push(value);
                continue;
            };
            self.note(&digest)?;
            let Some(disclosure) = self
                .by_digest
                .get(&digest)
                .and_then(|&i| disclosures.get(i).map(|d| (i, d)))
            else {
                continue; // RFC 9901 section 7.1 step 3.4: undisclosed elements are removed
            };
            let (index, disclosure) = disclosure;
            if !disclosure.is_array_element() {
                return Err(SdJwtError::DisclosureKindMismatch {
                    digest,
                    path: self.path.to_string(),
                    expected: "an array-element disclosure [salt, value], as its digest is an array element",
                });
            }
            self.path.push(PathElement::Index(out.len()));
            self.mark(index);
            let value = self.value(disclosure.value().clone(), depth + 1)?;
            self.path.pop();
            out.push(value);
        }
        Ok(out)
    }

    /// Records a digest; meeting one twice is fatal (RFC 9901 section 7.1 step 4).
    fn note(&mut self, digest: &str) -> Result<(), SdJwtError> {
        if self.seen.insert(digest.to_owned()) {
            Ok(())
        } else {
            Err(SdJwtError::DuplicateDigest {
                digest: digest.to_owned(),
            })
        }
    }

    fn mark(&mut self, index: usize) {
        if let Some(slot) = self.paths.get_mut(index) {
            *slot = Some(self.path.clone());
        }
    }

    fn child_path(&self, element: PathElement) -> String {
        let mut path = self.path.clone();
        path.push(element);
        path.to_string()
    }
}
