export { pingWorkflow } from './ping';
export { transactionWorkflow } from './transaction';
