//! Text and image embeddings run by candle: sentence-transformers' all-MiniLM-L6-v2 for the
//! original report's caption-to-reference similarity, and OpenAI's CLIP for CLIPScore.

pub mod clip;
pub mod clip_score;
pub mod hf_folder;
pub mod similarity;
