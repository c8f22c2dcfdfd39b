/** The product version, reported by the API and by agents. A test keeps it equal to package.json's. */
export const VERSION = '0.1.0';
