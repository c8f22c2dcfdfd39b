export { parseControlPlaneUrl, wsUrlOf } from './control-plane-url';
export { ControlPlaneNetwork, ControlPlaneUnreachable, describeConnectError, type NetworkOptions, type RequestInit, type Response, type WebSocketInit } from './network';
