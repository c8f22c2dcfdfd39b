/** JSON.parse that answers null for text that is not JSON (messages from Redis, checked by a schema next). */
export const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
};
