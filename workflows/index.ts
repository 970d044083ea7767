export { pingWorkflow } from './ping';
export { transactionWorkflow } from './transaction';
export { reconcileWorkflow } from './reconcile';
export { resendNotificationsWorkflow } from './resend';
