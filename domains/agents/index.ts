export { createAgentService, createApiKeyVerifier, type AgentService, type ApiKeyVerifier } from './service';
export { generateApiKey, parseApiKey, digestSecret, API_KEY_PATTERN, API_KEY_PREFIX } from './keys';
export { findOwnAgent, grantWallets, withdrawWallet } from './dal';
export { AGENT_AUDIT, type AgentView, type CreatedAgent } from './types';
