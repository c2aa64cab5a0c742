//! The oracle network: parameters, an oracle's bond and record, questions,
//! and the open questions assigned to an oracle (what its daemon polls).
//! Questions name record ids and versions only, never content.

use salus_types::oracle::{OracleParams, OracleRecord, Question};
use salus_types::Did;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const PARAMS: &str = "/v1/oracle/params";
/// `/v1/oracle/oracles/{account}`.
pub const ORACLES: &str = "/v1/oracle/oracles";
/// `/v1/oracle/questions/{id}`.
pub const QUESTIONS: &str = "/v1/oracle/questions";
/// `/v1/oracle/assigned/{account}`.
pub const ASSIGNED: &str = "/v1/oracle/assigned";

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ParamsView {
    pub height: Option<u64>,
    #[schema(value_type = Object)]
    pub params: OracleParams,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OracleView {
    #[schema(value_type = String)]
    pub oracle: Did,
    pub height: Option<u64>,
    /// Whether committees may draw it (bonded at least the minimum).
    pub eligible: bool,
    #[schema(value_type = Object)]
    pub record: OracleRecord,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuestionView {
    pub height: Option<u64>,
    #[schema(value_type = Object)]
    pub question: Question,
}

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
pub struct AssignedParams {
    /// Continue after this question id (paging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// At most this many (default 100, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AssignedQuestions {
    #[schema(value_type = String)]
    pub oracle: Did,
    pub height: Option<u64>,
    /// Open questions on whose committee the oracle sits, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub questions: Vec<Question>,
}
