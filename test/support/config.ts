/** The least environment loadConfig accepts, for unit tests of the configuration (no stack behind it: every URL is unreachable). */
export const MINIMAL_TEST_ENV = {
  NODE_ENV: 'test',
  DATABASE_URL: 'postgres://nobody:nothing@127.0.0.1:1/unused',
  KEYSTORE: 'local',
  KEYSTORE_PASSPHRASE: 'unit-test-passphrase-not-a-secret',
  JWT_SECRET_KEY: 'unit-test-jwt-secret-0123456789abcdef',
  AUDIT_HMAC_KEY: 'unit-test-audit-key-0123456789abcdef',
  API_KEY_HMAC_KEY: 'unit-test-api-key-key-0123456789abcdef',
} as const;
