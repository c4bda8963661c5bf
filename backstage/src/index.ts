/**
 * Backstage catalog module of microcks-pipeline: shows on API entities the mocks the pipeline
 * serves in Microcks. Install with `backend.add(import('<this package>'))`.
 */
import { catalogModuleMicrocksStatus } from './module';

export default catalogModuleMicrocksStatus;
export { catalogModuleMicrocksStatus };
export { MicrocksStatusProcessor } from './processor';
export { StatusSource } from './statusSource';
export { StatusClient, StatusUnavailableError, LISTING_PATH } from './statusClient';
export { readStatusConfig, type StatusConfig } from './config';
export { parseListing, parseEntity, ContractError } from './contract';
export type { Listing, StatusEntity, StatusMock, MockKind } from './contract';
export {
  decorateEntity,
  isManagedApi,
  syncStatusText,
  mockLinkTitle,
  CONFIG_REF_ANNOTATION,
  SYNC_STATUS_ANNOTATION,
  MOCK_LINK_TYPE,
} from './decorate';
export { withMockServers, mockDescription, asyncServerName } from './definition';
