//! `welcome` end to end on both forges and both databases: a newcomer's first PR is welcomed
//! in Prow's words; a second PR is not (the forge is asked: GitHub's search, GitLab's MR list
//! by author).

use crate::owners::{GITHUB, GITLAB, deliver};
use crate::support::*;

fn options(db: Db) -> Options {
    let mut o = Options::new(db);
    o.extra = "[plugins.\"Codertocat\"]\nenabled = [\"welcome\"]\n\
               [plugins.\"demoaccount2-commits-group\"]\nenabled = [\"welcome\"]\n"
        .into();
    o
}

#[tokio::test]
async fn a_first_pr_is_welcomed_and_a_second_is_not() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let pr = bosun
                .forge
                .seed_pr(case.forge, case.repo, case.number, case.author);
            deliver(&bosun, case.forge, case.opened(case.number, "base")).await;
            let welcomes: Vec<String> = bosun
                .forge
                .comments(&pr)
                .into_iter()
                .filter(|c| c.author == BOT)
                .map(|c| c.body)
                .collect();
            let expected = format!(
                "Welcome @{}! It looks like this is your first PR to {} 🎉",
                case.author, case.repo
            );
            assert!(
                welcomes.len() == 1 && welcomes[0].starts_with(&expected),
                "{:?}: {welcomes:?}",
                case.forge
            );
            bosun.shutdown().await;

            let bosun = spawn_bosun(options(db)).await;
            bosun.forge.seed_pr(case.forge, case.repo, 1, case.author);
            let second = bosun
                .forge
                .seed_pr(case.forge, case.repo, case.number, case.author);
            deliver(&bosun, case.forge, case.opened(case.number, "base")).await;
            assert!(
                bosun.forge.comments(&second).is_empty(),
                "{:?}: not their first PR",
                case.forge
            );
            bosun.shutdown().await;
        }
    }
}
