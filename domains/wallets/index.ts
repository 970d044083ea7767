export { createWalletService, normalizeLabel, type WalletService } from './service';
export { createWalletChain } from './chain';
export { generateWalletKey, isValidPrivateKey, type NewWalletKey } from './keys';
export { findWalletForAgent, findWalletForUser, listWalletsForAgent, listWalletsForUser, PUBLIC_WALLET_COLUMNS, type PublicWalletRow, type WalletRow } from './dal';
export * from './types';
export { wrongLoadForm } from './service';
export * from './schemas';
