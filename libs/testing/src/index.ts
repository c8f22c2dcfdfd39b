// Test support shared by every project's tests (tagged type:test: the lint lets only test code import it).
// It starts the API and the agent by their entry files, never by importing an app's source.
export * from './agent-process';
export * from './api-process';
export * from './gateway-process';
export * from './http';
export * from './logs';
export * from './net';
export * from './netns';
export * from './paths';
export * from './postgres';
export * from './proc';
export * from './query-loop';
export * from './redis';
export * from './sample-sources';
export * from './sockets';
export * from './tinyproxy';
export * from './tls';
export * from './unique';
export * from './wait';
