export { route, serves } from './policy';
