//! The read endpoints of the oracle network, insurance, staking and
//! governance.

use salus_api::insurance::{
    ClaimList, ClaimView, HolderParams, PolicyList, PolicyView, PoolView, PositionView,
};
use salus_api::oracle::{AssignedParams, AssignedQuestions, OracleView, ParamsView, QuestionView};
use salus_types::AccountId;

use crate::{Client, ClientError};

impl Client {
    pub async fn oracle_params(&self) -> Result<ParamsView, ClientError> {
        self.get(salus_api::oracle::PARAMS).await
    }

    pub async fn oracle(&self, oracle: &AccountId) -> Result<OracleView, ClientError> {
        self.get(&format!(
            "{}/{}",
            salus_api::oracle::ORACLES,
            oracle.to_hex()
        ))
        .await
    }

    pub async fn question(&self, id: u64) -> Result<QuestionView, ClientError> {
        self.get(&format!("{}/{id}", salus_api::oracle::QUESTIONS))
            .await
    }

    /// Open questions on `oracle`'s committees after `after`, oldest first.
    pub async fn assigned(
        &self,
        oracle: &AccountId,
        after: Option<u64>,
    ) -> Result<AssignedQuestions, ClientError> {
        let path = format!("{}/{}", salus_api::oracle::ASSIGNED, oracle.to_hex());
        self.get_query(&path, &AssignedParams { after, limit: None })
            .await
    }

    pub async fn pool(&self, id: u64) -> Result<PoolView, ClientError> {
        self.get(&format!("{}/{id}", salus_api::insurance::POOLS))
            .await
    }

    pub async fn position(
        &self,
        pool: u64,
        provider: &AccountId,
    ) -> Result<PositionView, ClientError> {
        self.get(&format!(
            "{}/{pool}/positions/{}",
            salus_api::insurance::POOLS,
            provider.to_hex()
        ))
        .await
    }

    pub async fn policy(&self, id: u64) -> Result<PolicyView, ClientError> {
        self.get(&format!("{}/{id}", salus_api::insurance::POLICIES))
            .await
    }

    pub async fn policies_of(&self, holder: &AccountId) -> Result<PolicyList, ClientError> {
        self.get_query(salus_api::insurance::POLICIES, &holder_params(holder))
            .await
    }

    pub async fn claim(&self, id: u64) -> Result<ClaimView, ClientError> {
        self.get(&format!("{}/{id}", salus_api::insurance::CLAIMS))
            .await
    }

    pub async fn claims_of(&self, holder: &AccountId) -> Result<ClaimList, ClientError> {
        self.get_query(salus_api::insurance::CLAIMS, &holder_params(holder))
            .await
    }
}

fn holder_params(holder: &AccountId) -> HolderParams {
    HolderParams {
        holder: holder.to_hex(),
        after: None,
        limit: None,
    }
}

impl Client {
    pub async fn stake(
        &self,
        account: &AccountId,
    ) -> Result<salus_api::governance::StakeView, ClientError> {
        self.get(&format!(
            "{}/{}",
            salus_api::governance::STAKE,
            account.to_hex()
        ))
        .await
    }

    pub async fn governance_params(
        &self,
    ) -> Result<salus_api::governance::GovernanceView, ClientError> {
        self.get(salus_api::governance::PARAMS).await
    }

    pub async fn proposal(
        &self,
        id: u64,
    ) -> Result<salus_api::governance::ProposalView, ClientError> {
        self.get(&format!("{}/{id}", salus_api::governance::PROPOSALS))
            .await
    }

    pub async fn proposals(&self) -> Result<salus_api::governance::ProposalList, ClientError> {
        self.get(salus_api::governance::PROPOSALS).await
    }
}
