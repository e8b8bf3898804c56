//! Text and image embeddings run by candle (feature `embeddings`): sentence-transformers'
//! all-MiniLM-L6-v2 for the original report's caption-to-reference similarity, and OpenAI's
//! CLIP for CLIPScore. The measures themselves are in [`crate::similarity`] and
//! [`crate::clip_score`].

pub mod clip;
pub mod hf_folder;
pub mod minilm;
pub mod tokenizer_file;
